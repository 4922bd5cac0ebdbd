"""Several server processes on one listening socket (``tfa serve --workers N``).

The parent binds the socket, installs the configuration file's tokens once, then forks the
workers before it has started a thread or kept a connection: each worker builds its own
engine (its own database connections) and serves the inherited socket with waitress. The
parent only supervises: it passes SIGTERM and SIGINT on to the workers, waits for them, and
starts a new worker when one dies on its own. Every invariant is the database's, so the
workers need no other coordination.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger("tfa.server")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's, read at import
RESPAWN_PAUSE = 1.0  # seconds between restarts of a worker that died, against crash loops
EARLY_DEATH = 5.0  # a worker dying this soon after its start failed to start
EARLY_DEATHS = 3  # that many in a row: the workers cannot start, give up
STOP_TIMEOUT = 20.0  # seconds the workers get to finish before they are killed


@contextmanager
def shared_metrics(enabled: bool) -> Iterator[None]:
    """A fresh directory where every worker keeps its metrics (prometheus-client's
    multiprocess mode), so any worker's ``/metrics`` sums them all; removed afterwards.
    Set before any worker imports prometheus-client. Kept as it is if the operator set
    ``PROMETHEUS_MULTIPROC_DIR`` already."""
    if not enabled or os.environ.get(MULTIPROCESS_VARIABLE):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="tfa-metrics-") as directory:
        os.environ[MULTIPROCESS_VARIABLE] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_VARIABLE]


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A socket bound and listening on ``host:port`` (port 0 picks one), for every worker."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class Supervisor:
    """Forks ``count`` workers running ``work(number)`` (which returns an exit status) and
    keeps them running until told to stop."""

    def __init__(self, count: int, work: Callable[[int], int]) -> None:
        if not hasattr(os, "fork"):
            raise OSError("several workers need a system with fork()")
        self.count = count
        self.work = work
        self.workers: dict[int, tuple[int, float]] = {}  # pid -> (worker number, started at)
        self._stopping = False
        self._early_deaths = 0
        self._failed = False

    def _fork(self, number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            status = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                status = self.work(number)
            except BaseException:
                log.exception("worker %d failed", number)
            finally:
                os._exit(status)
        self.workers[pid] = (number, time.monotonic())
        log.info("worker %d started (pid %d)", number, pid)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            self._stopping = True
            log.info("%s: stopping %d workers", signal.Signals(signum).name, len(self.workers))
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        """Start the workers and supervise them until a signal: 0 once all have stopped, 1
        when they keep dying as they start (the reason is in their log)."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for number in range(1, self.count + 1):
                self._fork(number)
            while self.workers:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                    continue
                number, started = self.workers.pop(pid, (0, 0.0))
                if not number or self._stopping:
                    continue
                early = time.monotonic() - started < EARLY_DEATH
                self._early_deaths = self._early_deaths + 1 if early else 0
                log.warning("worker %d (pid %d) ended with status %d", number, pid,
                            os.waitstatus_to_exitcode(status))
                if self._early_deaths >= EARLY_DEATHS:
                    log.error("workers keep failing as they start: stopping")
                    self._stop(signal.SIGTERM, None)
                    self._failed = True
                    continue
                time.sleep(RESPAWN_PAUSE)
                if not self._stopping:
                    self._fork(number)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._kill_stragglers()
        return 1 if self._failed else 0

    def _kill_stragglers(self) -> None:
        """After a failure of the supervisor itself: end the workers it leaves behind."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for pid in list(self.workers):
            os.kill(pid, signal.SIGTERM)
        while self.workers and time.monotonic() < deadline:
            for pid in list(self.workers):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    self.workers.pop(pid)
            time.sleep(0.05)
        for pid in list(self.workers):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.workers.pop(pid)
