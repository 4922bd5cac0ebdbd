"""Background work a server runs beside its requests, each in a daemon thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .store import StoreUnavailable

log = logging.getLogger("tfa.engine")

# While the store stays unavailable, a step fails every round (a dispatcher's every 6 s or
# so, waiting out the pool's timeout): one line says so at most this often.
OUTAGE_SUMMARY_EVERY = 60.0


class Background:
    """A daemon thread running :meth:`step` until stopped, pausing ``every`` seconds between
    steps (cut short by :meth:`wake`). A failing step is logged and tried again at the
    next one: an unavailable store (a database outage, a full disk) as one warning line
    when the outage starts, a count at most once a minute while it lasts and one info
    line when a step succeeds again; any other failure with its traceback."""

    def __init__(
        self, name: str, every: float, *, pause_first: bool = False,
        first_after: float | None = None,
    ) -> None:
        self.name = name
        self.every = every
        self.pause_first = pause_first
        self.first_after = first_after  # the first pause, when not ``every``
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.monotonic: Callable[[], float] = time.monotonic  # times outages (tests replace it)
        self._outage: _Outage | None = None

    def step(self) -> None:
        """One round of the work (subclasses say what)."""

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    def wake(self) -> None:
        """Run the next step now rather than after the pause."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._stop.clear()
            thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            thread.start()
            # Assigned once started: a signal between the two must not leave stop() a
            # thread it cannot join.
            self._thread = thread

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for a step under way."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        if self.pause_first:
            self._pause(self.first_after)
        while not self._stop.is_set():
            self.run_step()
            self._pause()

    def run_step(self) -> None:
        """One :meth:`step`, its failure logged (what the thread runs each round)."""
        try:
            self.step()
        except StoreUnavailable as exc:
            self._unavailable(exc)
        except Exception:
            log.exception("%s failed", self.name)
        else:
            self._recovered()

    def _unavailable(self, exc: StoreUnavailable) -> None:
        # A traceback per round says nothing new: the cause is the store, not the code.
        now = self.monotonic()
        cause = " ".join(str(exc).split())
        outage = self._outage
        if outage is None:
            self._outage = _Outage(now)
            log.warning("%s: the store is unavailable, retrying until it is back: %s",
                        self.name, cause)
            return
        outage.failures += 1
        if now - outage.reported >= OUTAGE_SUMMARY_EVERY:
            outage.reported = now
            log.warning("%s: the store is still unavailable after %d failed rounds in %.0f s:"
                        " %s", self.name, outage.failures, now - outage.started, cause)

    def _recovered(self) -> None:
        outage, self._outage = self._outage, None
        if outage is not None:
            log.info("%s: the store is back after %.0f s (%d failed rounds)",
                     self.name, self.monotonic() - outage.started, outage.failures)

    def _pause(self, seconds: float | None = None) -> None:
        self._wake.wait(self.every if seconds is None else seconds)
        self._wake.clear()


class _Outage:
    """A run of rounds that found the store unavailable."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.reported = started  # when a line last said so
        self.failures = 1


class Periodic(Background):
    """Calls ``work`` every ``every`` seconds, the first time ``first_after`` seconds after
    the start (default: one pause)."""

    def __init__(
        self, name: str, work: Callable[[], object], every: float,
        first_after: float | None = None,
    ) -> None:
        super().__init__(name, every, pause_first=True, first_after=first_after)
        self.work = work

    def step(self) -> None:
        self.work()
