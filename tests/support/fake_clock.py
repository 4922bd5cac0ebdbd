"""A clock for tests: it moves only when told to (importable from every test directory)."""

from __future__ import annotations

START = 1_700_000_000.0


class FakeClock:
    """A clock that moves only when told to; call it to read the time."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        self.now += seconds
        return self.now

    def set(self, now: float) -> None:
        """Jump to ``now``."""
        self.now = now
