"""Background work a server runs beside its requests, each in a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .store.base import StoreUnavailable

log = logging.getLogger("tfa.engine")


class Background:
    """A daemon thread running :meth:`step` until stopped, pausing ``every`` seconds between
    steps (cut short by :meth:`wake`). A failing step is logged and tried again at the
    next one; a store that cannot serve is logged once (one line, no traceback) until a
    step succeeds."""

    def __init__(self, name: str, every: float, *, pause_first: bool = False) -> None:
        self.name = name
        self.every = every
        self.pause_first = pause_first
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

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
            self._pause()
        waiting = False  # for the store: said once per outage (the HTTP side logs it)
        while not self._stop.is_set():
            try:
                self.step()
                waiting = False
            except StoreUnavailable as exc:
                if not waiting:
                    log.info("%s waits for the store: %s", self.name, exc)
                waiting = True
            except Exception:
                log.exception("%s failed", self.name)
            self._pause()

    def _pause(self) -> None:
        self._wake.wait(self.every)
        self._wake.clear()


class Periodic(Background):
    """Calls ``work`` every ``every`` seconds, the first time one pause after the start."""

    def __init__(self, name: str, work: Callable[[], object], every: float) -> None:
        super().__init__(name, every, pause_first=True)
        self.work = work

    def step(self) -> None:
        self.work()
