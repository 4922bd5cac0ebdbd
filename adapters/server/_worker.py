"""One worker of ``tfa serve --workers`` as each end of its pipe sees it: what the worker
says once on the pipe (:class:`_Report`: that it serves, or why it could not start) and
what the supervisor makes of it (:class:`_Worker`), how a worker's end reads in the log
(:func:`_ending`), and the thread by which a worker notices that its supervisor is gone
(:func:`watch_parent`). The supervisor itself is in :mod:`.workers`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("tfa.server")

PARENT_POLL = 0.25  # seconds between a worker's checks that its supervisor still lives
READY = b"R"  # what a worker writes on its pipe once it serves
FAILED = b"F"  # what a worker writes before the reason it could not start (UTF-8)
MAX_REASON = 2000  # bytes of a reason the parent keeps
# Signals someone sends (an operator, the OOM killer): a worker they end before it served
# did not fail to start, and its death says nothing about the configuration.
SENT_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def watch_parent(parent: int, interval: float = PARENT_POLL) -> threading.Thread:
    """In a worker: a thread that, once ``parent`` (the supervisor's pid) is no longer this
    process's parent, sends this process SIGTERM: the worker answers the requests in hand
    and exits, as when the supervisor stops it. Polling works on every system and, unlike
    ``PR_SET_PDEATHSIG``, neither kills abruptly nor fires when a thread of the parent
    ends."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("the supervisor (pid %d) is gone: stopping worker pid %d",
                    parent, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="tfa-supervisor-watch", daemon=True)
    thread.start()
    return thread


class _Report:
    """A worker's end of its pipe to the supervisor: it says one thing, once."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def told(self) -> bool:
        """Whether the worker said something already."""
        return self._fd < 0

    def ready(self) -> None:
        """The worker serves."""
        self._say(READY)

    def failed(self, reason: str) -> None:
        """The worker could not start, because of ``reason`` (nothing once it said ready)."""
        self._say(FAILED + reason.encode("utf-8", "replace")[:MAX_REASON])

    def _say(self, message: bytes) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, message)  # under PIPE_BUF: one write, whole
        except OSError:  # the supervisor is gone: no one to tell
            pass
        finally:
            os.close(self._fd)
            self._fd = -1


@dataclass
class _Worker:
    """What the supervisor knows of one worker process."""

    number: int
    pipe: int  # the read end of its pipe, -1 once closed
    said: bytes = b""

    @property
    def booted(self) -> bool:
        """Whether it said that it serves."""
        return self.said.startswith(READY)

    @property
    def reason(self) -> str:
        """Why it could not start, on one line ("" when it did not say)."""
        if not self.said.startswith(FAILED):
            return ""
        return " ".join(self.said[1:].decode("utf-8", "replace").split())


def _ending(status: int) -> tuple[str, bool]:
    """How a worker ended, as a log says it, and whether someone sent the signal."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exited with status {code}", False
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"was killed by {name}", -code in SENT_SIGNALS
