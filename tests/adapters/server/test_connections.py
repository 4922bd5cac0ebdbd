"""How tfa serve sets waitress up: the open-files limit it raises for its connections."""

from __future__ import annotations

import logging
import resource
from typing import Any

import pytest

from tfa_engine.adapters.server.connections import raise_open_files_limit
from tfa_engine.adapters.server.settings import Settings

SETTINGS = Settings(connection_limit=1000, threads=32)
NEEDED = 1000 + 4 * 32 + 64


class Limits:
    """A stand-in for RLIMIT_NOFILE: what getrlimit answers, what setrlimit was asked."""

    def __init__(self, soft: int, hard: int) -> None:
        self.soft, self.hard = soft, hard
        self.set: list[tuple[int, int]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(resource, "getrlimit", lambda which: (self.soft, self.hard))
        monkeypatch.setattr(resource, "setrlimit", lambda which, limits: self.set.append(limits))


@pytest.mark.parametrize(
    ("soft", "hard", "expected"),
    [
        pytest.param(1024, 65536, [(NEEDED, 65536)], id="raised-to-what-is-needed"),
        pytest.param(1024, resource.RLIM_INFINITY, [(NEEDED, resource.RLIM_INFINITY)],
                     id="no-hard-limit"),
        pytest.param(4096, 65536, [], id="already-enough"),
        pytest.param(256, 1100, [(1100, 1100)], id="up-to-the-hard-limit"),
    ],
)
def test_open_files_limit_is_raised_for_the_connections(
    monkeypatch: pytest.MonkeyPatch, soft: int, hard: int, expected: list[Any]
) -> None:
    """The soft limit is raised to connections + spare descriptors, never past the hard one."""
    limits = Limits(soft, hard)
    limits.install(monkeypatch)
    raise_open_files_limit(SETTINGS)
    assert limits.set == expected


def test_too_low_a_hard_limit_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When the hard limit is below what the connections need, the log says what to do."""
    Limits(256, 1100).install(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="tfa.server"):
        raise_open_files_limit(SETTINGS)
    assert "TFA_CONNECTION_LIMIT=1000" in caplog.text and "1100" in caplog.text
