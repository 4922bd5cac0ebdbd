"""mediariver's per-customer rate limit and the ``RateLimit-*`` headers it answers with."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime


@dataclass
class _Window:
    """One customer's fixed rate-limit window."""

    start: float
    used: int


class CustomerLimits:
    """``count`` SMS (recipients) per customer in each fixed window of ``seconds``;
    ``limit`` None is no limit. ``clock`` is monotonic, ``wall_clock`` epoch seconds."""

    def __init__(
        self,
        limit: tuple[int, float] | None,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        if limit is not None and (limit[0] < 1 or not limit[1] > 0):
            raise ValueError("rate_limit must be (count >= 1, seconds > 0) or None")
        self.limit = limit
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def take(self, customer: str, wanted: int) -> int | None:
        """Count ``wanted`` SMS against the customer's window; the wait in ms when over."""
        if self.limit is None:
            return None
        count, seconds = self.limit
        now = self._clock()
        with self._lock:
            window = self._windows.get(customer)
            if window is None or now >= window.start + seconds:
                window = self._windows[customer] = _Window(now, 0)
            if window.used + wanted > count:
                return max(1, math.ceil((window.start + seconds - now) * 1000))
            window.used += wanted
            return None

    def headers(self, customer: str, *, retry_after_ms: int = 0) -> dict[str, str]:
        """The ``RateLimit-*`` headers mediariver adds to every answer to a customer."""
        if self.limit is None:
            return {"RateLimit-Retry-After": str(retry_after_ms)}
        count, seconds = self.limit
        now = self._clock()
        with self._lock:
            window = self._windows.get(customer)
            if window is None or now >= window.start + seconds:
                used, ends_in = 0, seconds
            else:
                used, ends_in = window.used, window.start + seconds - now
        reset = datetime.fromtimestamp(self._wall_clock() + ends_in, timezone.utc)
        return {
            "RateLimit-Limit": str(count),
            "RateLimit-Remaining": str(max(0, count - used)),
            "RateLimit-Reset": format_datetime(reset, usegmt=True),
            "RateLimit-Retry-After": str(retry_after_ms),
        }
