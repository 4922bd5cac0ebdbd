"""Readiness verdicts a flood of probes cannot turn into load on the store.

A load balancer, or anyone (the probe needs no token), may ask whether the service is ready
hundreds of times a second. :class:`ReadinessCache` asks the store at most once per ``ttl``
and hands every caller in between the same verdict; callers arriving while the store is
being asked wait for that one answer instead of asking again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ._base import StoreUnavailable

READY_TTL = 1.0  # seconds one verdict is reused


class ReadinessCache:
    """The verdict of ``check`` (it returns, or raises :class:`StoreUnavailable`), computed
    at most once per ``ttl`` seconds of ``clock``, one computation at a time.

    Only :class:`StoreUnavailable` is a verdict; any other error propagates uncached (it
    is a fault, not an answer). A clock that goes back counts as the verdict being stale.
    """

    def __init__(
        self, check: Callable[[], None], clock: Callable[[], float], ttl: float = READY_TTL
    ) -> None:
        self._check = check
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()  # held while computing: the others wait, then share
        self._checked_at: float | None = None
        self._failure: str | None = None  # why the store is not ready; None when it is

    def check(self) -> None:
        """Return when the store is ready; raise :class:`StoreUnavailable` when not."""
        with self._lock:
            now = self._clock()
            at = self._checked_at
            if at is None or not 0 <= now - at < self._ttl:
                try:
                    self._check()
                    self._failure = None
                except StoreUnavailable as exc:
                    self._failure = str(exc)
                self._checked_at = self._clock()
            failure = self._failure
        if failure is not None:
            # A new exception per caller: one instance raised in several threads at once
            # would share (and grow) one traceback.
            raise StoreUnavailable(failure)
