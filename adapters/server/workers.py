"""Several server processes on one listening socket (``tfa serve --workers N``).

The parent binds the socket, installs the configuration file's tokens once, then forks the
workers before it has started a thread or kept a connection: each worker builds its own
engine (its own database connections) and serves the inherited socket with waitress. The
parent only supervises: it passes SIGTERM and SIGINT on to the workers, waits for them, and
starts a new worker when one dies on its own. Every invariant is the database's, so the
workers need no other coordination.

Partial failure. Each worker has a pipe to the parent on which it says once that it serves
(its engine is built and its server made), or why it could not get there. A worker that
dies after it served crashed: another takes its place after a pause that grows while they
keep dying (:class:`~.restarts.RestartPolicy`), and the other workers serve on meanwhile.
A worker that exits before it served could not start; when starts keep failing with no
worker serving in between, the configuration or the machine is wrong, and the service
stops with one line that gives the worker's reason. And each worker watches its parent
(:func:`watch_parent`): when the supervisor dies, even of SIGKILL, the workers stop as on
SIGTERM rather than keep the port as orphans.

This module holds the supervisor and what is set up before it forks; one worker's pipe as
each end sees it, and its watch on the supervisor, are in :mod:`._worker`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import selectors
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

from ._worker import FAILED as FAILED
from ._worker import MAX_REASON, _ending, _Report, _Worker, watch_parent
from ._worker import PARENT_POLL as PARENT_POLL
from ._worker import READY as READY
from ._worker import SENT_SIGNALS as SENT_SIGNALS
from .restarts import RestartPolicy

log = logging.getLogger("tfa.server")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's, read at import
STOP_TIMEOUT = 20.0  # seconds the workers get to finish before they are killed
# The signals that stop the service: blocked across each fork, so that one sent to a new
# worker before it has its own handling waits for that (the supervisor's handler, which
# it inherits, would take it for the supervisor's and the worker would serve on).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

Work = Callable[[int, Callable[[], None]], int]
"""What a worker runs: ``work(number, ready)`` serves until told to stop and returns the
exit status; it calls ``ready()`` once it serves."""


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
    """Forks ``count`` workers running ``work`` and keeps them running until told to stop.

    ``explain(exc)`` puts an exception that ended a worker into a line for the operator, or
    returns None when it is unexpected (its traceback is logged, and its type and message
    are the reason)."""

    def __init__(
        self,
        count: int,
        work: Work,
        *,
        explain: Callable[[BaseException], str | None] = lambda exc: None,
        policy: RestartPolicy | None = None,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        if not hasattr(os, "fork"):
            raise OSError("several workers need a system with fork()")
        self.count = count
        self.work = work
        self.explain = explain
        self.policy = policy or RestartPolicy()
        self.stop_timeout = stop_timeout
        self.workers: dict[int, _Worker] = {}  # pid -> worker
        self._due: dict[int, float] = {}  # worker number -> when to start it again
        self._signal: int | None = None  # SIGTERM or SIGINT, once one came
        self._stopping = False
        self._stop_deadline = 0.0  # monotonic; workers left then are killed
        self._failed = False
        self._selector = selectors.DefaultSelector()
        self._wakeup = (-1, -1)  # the pipe signal.set_wakeup_fd writes to

    def run(self) -> int:
        """Start the workers and supervise them until a signal: 0 once all have stopped, 1
        when workers cannot start (the reason is logged on one line)."""
        self._wakeup = os.pipe()
        for fd in self._wakeup:
            os.set_blocking(fd, False)
        self._selector.register(self._wakeup[0], selectors.EVENT_READ)
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        previous_wakeup = signal.set_wakeup_fd(self._wakeup[1])  # a signal wakes select()
        try:
            for number in range(1, self.count + 1):
                self._start(number)
            while self.workers or self._due:
                self._wait()
                if self._signal is not None and not self._stopping:
                    log.info("%s: stopping %d workers", signal.Signals(self._signal).name,
                             len(self.workers))
                    self._stop()
                self._reap()
                self._start_due()
                self._kill_late()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._kill_stragglers()
            self._selector.close()
            for fd in self._wakeup:
                os.close(fd)
        return 1 if self._failed else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # SIGCHLD only wakes the loop (through the wakeup pipe); the loop does the rest.
        if signum != signal.SIGCHLD and self._signal is None:
            self._signal = signum

    def _wait(self) -> None:
        """Until a signal, a word from a worker, or the next start that is due."""
        timeout = None
        if self._due:
            timeout = max(0.0, min(self._due.values()) - self.policy.clock())
        if self._stopping and self._stop_deadline != math.inf:
            timeout = max(0.0, self._stop_deadline - time.monotonic())
        for key, _ in self._selector.select(timeout):
            if key.fd == self._wakeup[0]:
                with contextlib.suppress(BlockingIOError):
                    while os.read(key.fd, 512):
                        pass
            else:
                self._listen(key.data)

    def _listen(self, worker: _Worker) -> None:
        """Read what ``worker`` said on its pipe; close the pipe at its end."""
        while worker.pipe >= 0:
            try:
                data = os.read(worker.pipe, 512)
            except BlockingIOError:
                return
            if not data:
                self._selector.unregister(worker.pipe)
                os.close(worker.pipe)
                worker.pipe = -1
                return
            was_booted = worker.booted
            worker.said = (worker.said + data)[: MAX_REASON + 1]
            if worker.booted and not was_booted:
                self.policy.booted()

    def _start(self, number: int) -> None:
        self.policy.started(number)
        supervisor = os.getpid()
        read_end, write_end = os.pipe()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:  # no memory or processes left for now: try again later
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read_end)
            os.close(write_end)
            pause = self.policy.ended(number)
            log.error("cannot start worker %d: %s; trying again in %g s", number, exc, pause)
            self._due[number] = self.policy.clock() + pause
            return
        if pid == 0:
            os.close(read_end)
            self._serve(number, supervisor, _Report(write_end), mask)  # never returns
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a stop sent meanwhile comes now
        os.close(write_end)
        os.set_blocking(read_end, False)
        worker = _Worker(number, read_end)
        self.workers[pid] = worker
        self._selector.register(read_end, selectors.EVENT_READ, worker)
        log.info("worker %d started (pid %d)", number, pid)

    def _serve(self, number: int, supervisor: int, report: _Report,
               mask: Iterable[int]) -> None:
        """The worker process: run ``work`` and exit with its status. It starts with the
        stop signals blocked (``mask`` is the mask from before the fork): one the supervisor
        sent already ends it as soon as their handling is its own."""
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            self._close_inherited()
            watch_parent(supervisor)  # its pid from before the fork: it may be gone now
            status = self.work(number, report.ready)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            reason = self.explain(exc)
            if reason is None:
                log.exception("worker %d failed", number)
                reason = f"{type(exc).__name__}: {exc}"
            elif report.told:  # before that, the supervisor's line gives the reason
                log.error("worker %d failed: %s", number, reason)
            report.failed(reason)
        finally:
            os._exit(status)

    def _close_inherited(self) -> None:
        """In a worker: close the supervisor's descriptors (other workers' pipes)."""
        self._selector.close()
        for fd in (*self._wakeup, *(worker.pipe for worker in self.workers.values())):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _reap(self) -> None:
        """Collect every worker that ended, and decide what follows."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            self._listen(worker)  # what it wrote before it died is in the pipe still
            if worker.pipe >= 0:
                self._selector.unregister(worker.pipe)
                os.close(worker.pipe)
            pause = self.policy.ended(worker.number)
            if not self._stopping:
                self._ended(pid, worker, status, pause)

    def _ended(self, pid: int, worker: _Worker, status: int, pause: float) -> None:
        how, sent = _ending(status)
        number = worker.number
        if worker.booted or sent or os.waitstatus_to_exitcode(status) == 0:
            log.warning("worker %d (pid %d) %s; starting another in %g s",
                        number, pid, how, pause)
        else:
            reason = worker.reason or how
            if self.policy.boot_failed():
                log.error("workers cannot start: %s; stopping", reason)
                self._failed = True
                self._stop()
                return
            log.warning("worker %d (pid %d) could not start: %s; trying again in %g s",
                        number, pid, reason, pause)
        self._due[number] = self.policy.clock() + pause

    def _start_due(self) -> None:
        now = self.policy.clock()
        for number, when in sorted(self._due.items()):
            if when <= now and not self._stopping:
                del self._due[number]
                self._start(number)

    def _stop(self) -> None:
        """Stop every worker; start none again. Those left after ``stop_timeout`` are
        killed."""
        if not self._stopping:
            self._stop_deadline = time.monotonic() + self.stop_timeout
        self._stopping = True
        self._due.clear()
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: signal.Signals) -> None:
        """Send ``sig`` to every worker still running."""
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _kill_late(self) -> None:
        """Once stopping has taken ``stop_timeout``: kill the workers still running (a
        worker stuck in a request never finishes it), so that the service ends."""
        if not self._stopping or not self.workers or time.monotonic() < self._stop_deadline:
            return
        log.warning("workers (pids %s) still run %g s after they were told to stop:"
                    " killing them", ", ".join(map(str, self.workers)), self.stop_timeout)
        self._signal_all(signal.SIGKILL)
        self._stop_deadline = math.inf  # said once; the kills are reaped as they come

    def _kill_stragglers(self) -> None:
        """After a failure of the supervisor itself: end the workers it leaves behind."""
        deadline = time.monotonic() + self.stop_timeout
        self._signal_all(signal.SIGTERM)
        while self.workers and time.monotonic() < deadline:
            for pid in list(self.workers):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    self.workers.pop(pid)
            time.sleep(0.05)
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.workers.pop(pid)
