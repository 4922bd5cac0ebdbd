"""How a background step's failures are logged: a store outage as a few lines (its start,
a count at most once a minute, its end), any other failure with its traceback. Steps run
one by one on a fake clock (no thread)."""

from __future__ import annotations

import logging

import pytest
from fake_clock import FakeClock

from tfa_engine._background import Background
from tfa_engine.store import StoreUnavailable

ROUND = 6.0  # seconds between failing rounds of a dispatcher during an outage


class Flaky(Background):
    """A step that raises what ``failure`` holds (nothing: it succeeds)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__("tfa-test", 1.0)
        self.monotonic = clock
        self.failure: Exception | None = None

    def step(self) -> None:
        if self.failure is not None:
            raise self.failure


def rounds(worker: Flaky, clock: FakeClock, count: int) -> None:
    """Run ``count`` steps, ``ROUND`` seconds apart."""
    for _ in range(count):
        worker.run_step()
        clock.advance(ROUND)


@pytest.fixture
def worker(clock: FakeClock) -> Flaky:
    """A background worker on the fake clock, not started."""
    return Flaky(clock)


def test_an_outage_of_ten_minutes_logs_one_line_a_minute_without_traceback(
    worker: Flaky, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """100 rounds failing with StoreUnavailable over 10 minutes: a warning at the start,
    then one a minute with the count, none with a traceback."""
    worker.failure = StoreUnavailable("couldn't get a connection after 5.00 sec")
    with caplog.at_level(logging.INFO, logger="tfa.engine"):
        rounds(worker, clock, 100)
    lines = [r for r in caplog.records if r.name == "tfa.engine"]
    assert len(lines) == 1 + 9  # the start, then one per whole minute of the 600 s
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in lines)
    assert "the store is unavailable" in lines[0].getMessage()
    assert "still unavailable after 11 failed rounds in 60 s" in lines[1].getMessage()


def test_the_end_of_an_outage_is_one_info_line(
    worker: Flaky, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The first successful step after 5 failed rounds logs one info line saying the store
    is back, with the outage's length and failed rounds; later steps log nothing."""
    worker.failure = StoreUnavailable("database or disk is full")
    rounds(worker, clock, 5)
    worker.failure = None
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tfa.engine"):
        rounds(worker, clock, 3)
    messages = [r.getMessage() for r in caplog.records if r.name == "tfa.engine"]
    assert messages == ["tfa-test: the store is back after 30 s (5 failed rounds)"]
    assert caplog.records[0].levelno == logging.INFO


def test_an_unexpected_failure_keeps_its_traceback(
    worker: Flaky, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A step failing with another exception is logged with its traceback every time."""
    worker.failure = KeyError("bug")
    with caplog.at_level(logging.INFO, logger="tfa.engine"):
        rounds(worker, clock, 2)
    lines = [r for r in caplog.records if r.name == "tfa.engine"]
    assert len(lines) == 2
    assert all(r.levelno == logging.ERROR and r.exc_info is not None for r in lines)
