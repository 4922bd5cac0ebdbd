"""A store that cannot serve (disk full, database down) answers -78, and is logged once.

While the store is down every request fails the same way; a traceback per request would
bury the one line that says what happened. :class:`OutageLog` writes the first failure
of an outage as one warning line, then at most one count per ``interval``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import falcon

from tfa_engine import Outcome, StoreUnavailable, catalogue

from .wire import render

RETRY_AFTER = 5  # seconds a client is told to wait while the store is unavailable
LOG_INTERVAL = 60.0  # seconds between two log lines of one outage


class OutageLog:
    """Logs an outage of the store: its first failure at once (the cause, without a
    traceback), then how many more requests failed, at most once per ``interval``.

    A failure after ``interval`` seconds without one starts a new outage.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last_failure: float | None = None
        self._reported_at = 0.0
        self._unreported = 0  # failures since the last line

    def failed(self, error: Exception) -> None:
        """Count one request that failed with ``error``; log if it is time to."""
        lines: list[tuple[str, tuple[Any, ...]]] = []
        with self._lock:
            now = self._clock()
            new_outage = self._last_failure is None or now - self._last_failure > self._interval
            self._last_failure = now
            if new_outage:
                if self._unreported:
                    lines.append(self._summary())
                lines.append((
                    "store unavailable, answering %d until it recovers: %s",
                    (catalogue.UNAVAILABLE.code, error),
                ))
                self._reported_at, self._unreported = now, 0
            else:
                self._unreported += 1
                if now - self._reported_at >= self._interval:
                    lines.append(self._summary())
                    self._reported_at, self._unreported = now, 0
        for message, args in lines:
            self._log.warning(message, *args)

    def _summary(self) -> tuple[str, tuple[Any, ...]]:
        return (
            "store still unavailable: %d more requests answered %d",
            (self._unreported, catalogue.UNAVAILABLE.code),
        )


class StoreUnavailableHandler:
    """Falcon error handler: a :class:`~tfa_engine.StoreUnavailable` from any engine call
    is -78 (HTTP 503) with ``Retry-After``, counted in an :class:`OutageLog`."""

    def __init__(self, outages: OutageLog) -> None:
        self._outages = outages

    def __call__(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        error: StoreUnavailable,
        params: dict[str, Any],
    ) -> None:
        self._outages.failed(error)
        render(resp, Outcome(catalogue.UNAVAILABLE, retry_after=RETRY_AFTER))
