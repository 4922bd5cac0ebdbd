"""When the supervisor of ``tfa serve --workers N`` starts a worker again, and when it gives
up: a capped back-off for workers that die after they served, and a limit on failed starts
in a row."""

from __future__ import annotations

import time
from collections.abc import Callable


class RestartPolicy:
    """When a worker that ended is started again, and when the supervisor gives up.

    Each worker number has its own pause: ``first`` seconds after a death, doubled after
    each further death that follows a short life, never more than ``cap``; a worker that
    stayed up ``steady`` seconds or more starts the sequence afresh. ``boot_failures``
    failed starts in a row, with no worker serving in between, mean that workers cannot
    start. ``clock`` gives monotonic seconds."""

    def __init__(
        self,
        *,
        first: float = 1.0,
        cap: float = 30.0,
        steady: float = 30.0,
        boot_failures: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first = first
        self.cap = cap
        self.steady = steady
        self.boot_failures = boot_failures
        self.clock = clock
        self._started: dict[int, float] = {}
        self._deaths: dict[int, int] = {}  # worker number -> short lives in a row
        self._failed_boots = 0

    def started(self, number: int) -> None:
        """Worker ``number`` was started now."""
        self._started[number] = self.clock()

    def ended(self, number: int) -> float:
        """Worker ``number`` ended now: the seconds to wait before starting it again."""
        lived = self.clock() - self._started.pop(number, self.clock())
        deaths = 0 if lived >= self.steady else self._deaths.get(number, 0)
        self._deaths[number] = min(deaths + 1, 64)  # bounded: 2.0**deaths cannot overflow
        return float(min(self.cap, self.first * 2.0**deaths))

    def booted(self) -> None:
        """A worker serves: the workers can start."""
        self._failed_boots = 0

    def boot_failed(self) -> bool:
        """A worker could not start: whether that makes too many in a row."""
        self._failed_boots += 1
        return self._failed_boots >= self.boot_failures
