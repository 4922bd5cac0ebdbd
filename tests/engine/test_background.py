"""Background work while the store is down: one log line per outage, not a traceback a step."""

from __future__ import annotations

import logging
import threading

import pytest

from tfa_engine.background import Background
from tfa_engine.store import StoreUnavailable

STEPS = 5  # failing steps before the store comes back
TIMEOUT = 10.0


class Outage(Background):
    """Fails ``STEPS`` times as a store that cannot serve would, then succeeds."""

    def __init__(self) -> None:
        super().__init__("tfa-test", every=0.001)
        self.steps = 0
        self.done = threading.Event()

    def step(self) -> None:
        self.steps += 1
        if self.steps <= STEPS:
            raise StoreUnavailable("the database cannot serve now: Connection refused")
        self.done.set()


def test_a_store_outage_is_logged_once_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five steps failing on an unavailable store write one line naming the cause."""
    caplog.set_level(logging.DEBUG, logger="tfa.engine")
    work = Outage()
    work.start()
    try:
        assert work.done.wait(TIMEOUT)
    finally:
        work.stop()
    records = [r for r in caplog.records if r.name == "tfa.engine"]
    assert len(records) == 1
    assert "Connection refused" in records[0].getMessage()
    assert records[0].exc_info is None
