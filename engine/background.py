"""Background work a server runs beside its requests: purging records past retention."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("tfa.engine")


class Periodic:
    """Calls ``work`` every ``every`` seconds in a daemon thread until stopped.

    A failure (a busy or briefly unavailable store) is logged and tried again next time.
    """

    def __init__(self, name: str, work: Callable[[], object], every: float) -> None:
        self.name = name
        self.work = work
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for a call under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.work()
            except Exception:
                log.exception("%s failed", self.name)
