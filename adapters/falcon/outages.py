"""A store that cannot serve (disk full, database down) answers -78, and is logged once.

While the store is down every request fails the same way; a traceback per request would
bury the one line that says what happened. :class:`OutageLog` writes the first failure
of an outage as one warning line, then at most one count per ``interval``, and one line
when a request is served by the store again (:class:`RecoveryWatch`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import falcon

from tfa_engine import Outcome, StoreUnavailable, catalogue

from .wire import render

RETRY_AFTER = 5  # seconds a client is told to wait while the store is unavailable
LOG_INTERVAL = 60.0  # seconds between two log lines of one outage


class OutageLog:
    """Logs an outage of the store: its first failure at once (the cause, without a
    traceback), then how many more requests failed, at most once per ``interval``, and
    its end (:meth:`recovered`): how long it lasted.

    A failure after ``interval`` seconds without one also starts a new outage.
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
        self._started: float | None = None  # the first failure of the outage under way
        self._last_failure: float | None = None
        self._reported_at = 0.0
        self._unreported = 0  # failures since the last line

    @property
    def ongoing(self) -> bool:
        """True from a failure until :meth:`recovered` (read without the lock: a request
        that misses a change by a moment only delays the recovery line to the next)."""
        return self._started is not None

    def failed(self, error: Exception, arrived: float | None = None) -> None:
        """Count one request that failed with ``error``, having arrived at ``arrived`` (this
        log's clock; now when None: a failure may come seconds after its request, which
        waited for the store); log if it is time to."""
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
                self._started = now if arrived is None else min(arrived, now)
                self._reported_at, self._unreported = now, 0
            else:
                self._unreported += 1
                if now - self._reported_at >= self._interval:
                    lines.append(self._summary())
                    self._reported_at, self._unreported = now, 0
        for message, args in lines:
            self._log.warning(message, *args)

    def now(self) -> float:
        """The time on this log's clock."""
        return self._clock()

    def recovered(self, arrived: float | None = None) -> None:
        """A request that arrived at ``arrived`` (this log's clock; now when None) was served
        by the store. If that was after the outage under way began, end it with one line
        saying how long it lasted and how many requests it refused since the last line (a
        request already under way when the store failed proves nothing)."""
        with self._lock:
            if self._started is None or (arrived is not None and arrived <= self._started):
                return
            lasted = self._clock() - self._started
            unreported = self._unreported
            self._started = self._last_failure = None
            self._unreported = 0
        self._log.warning(
            "store available again after %.1f s (%d more requests answered %d)",
            lasted, unreported, catalogue.UNAVAILABLE.code,
        )

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
        self._outages.failed(error, getattr(req.context, "outage_clock", None))
        render(resp, Outcome(catalogue.UNAVAILABLE, retry_after=RETRY_AFTER))


class RecoveryWatch:
    """Falcon middleware: while an outage is under way, a 2xx from a resource whose success
    needs the store to take writes ends it in the :class:`OutageLog`.

    ``resources`` maps each such resource type to how long its answer may lag the store
    (a cached readiness verdict): only a request arriving that long after the outage began
    counts.
    """

    def __init__(self, outages: OutageLog, resources: Mapping[type, float]) -> None:
        self._outages = outages
        self._resources = dict(resources)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Note when the request arrived (for the :class:`StoreUnavailableHandler` too)."""
        req.context.outage_clock = self._outages.now()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        """Tell the outage log of a request the store served."""
        lag = self._resources.get(type(resource))
        arrived = getattr(req.context, "outage_clock", None)
        if (lag is not None and arrived is not None and self._outages.ongoing
                and req_succeeded and 200 <= resp.status_code < 300):
            self._outages.recovered(arrived - lag)
