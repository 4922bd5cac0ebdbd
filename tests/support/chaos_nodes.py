"""``tfa serve --workers 2`` nodes that a test kills and restarts on their own ports.

Importable from every test directory. Each node runs in a process group of its own
(``setsid``), so one ``kill -9`` of the group takes its supervisor and its workers at once,
as an operator's ``kill -9 -PGID`` or a container's OOM kill would, without reaching the
test. A node keeps its port across restarts: clients keep the URL they had. Worker pids
come from the supervisor's "worker N started (pid P)" lines; every process a node ever
started is stopped by :meth:`Node.stop`, killed if it lingers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from fleet import WORKER_LINE, Database, Fleet, await_workers
from tfa_processes import SERVING, START_TIMEOUT, TfaProcess, gone, tfa_command

WAIT = 30.0  # bound of every wait for a port, a worker or an exit
POLL = 0.01  # seconds between looks at a process or a port


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now (as ``tfa serve`` binds it,
    with SO_REUSEADDR: connections left in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until_gone(pids: list[int], timeout: float = WAIT) -> float | None:
    """Seconds until every process of ``pids`` has ended; None if one outlived ``timeout``."""
    started = time.monotonic()
    while not all(gone(pid) for pid in pids):
        if time.monotonic() - started > timeout:
            return None
        time.sleep(POLL)
    return time.monotonic() - started


class Node:
    """One deployment node: ``tfa serve --workers 2 --threads THREADS`` on 127.0.0.1:``port``
    with ``env``, started by :meth:`start` (again after a kill)."""

    def __init__(
        self, name: str, port: int, workdir: Path, env: Mapping[str, str], threads: int = 8
    ) -> None:
        self.name = name
        self.port = port
        self.workdir = workdir
        self.env = dict(env)
        self.threads = threads
        self.lives: list[TfaProcess] = []  # one supervisor per start, oldest first

    @property
    def url(self) -> str:
        """The node's address, the same across restarts."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def supervisor(self) -> TfaProcess:
        """The supervisor of the latest start."""
        return self.lives[-1]

    def start(self) -> None:
        """Start the node once its port is free; return when both workers answer."""
        deadline = time.monotonic() + WAIT
        while not port_free(self.port):
            assert time.monotonic() < deadline, f"{self.name}: port {self.port} stays taken"
            time.sleep(POLL)
        command = ["setsid", *tfa_command(), "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", "2", "--threads", str(self.threads)]
        process = TfaProcess(command, cwd=self.workdir, env=self.env,
                             name=f"{self.name} #{len(self.lives) + 1}")
        self.lives.append(process)
        process.base_url = process.wait_for(SERVING, START_TIMEOUT)[1]
        pid = process.process.pid
        # setsid execs in place (a child of the test leads no group): the supervisor leads
        # a group of its own, which kill_all may kill whole.
        assert os.getpgid(pid) == pid != os.getpgid(0), f"{self.name}: not a group of its own"
        pids = process.wait_until(
            lambda lines: found if len(found := self._started(lines)) == 2 else None,
            "two workers started", START_TIMEOUT,
        )
        await_workers(Fleet(self.name, [process], Database(self.env["TFA_DATABASE"]), {},
                            worker_pids=sorted(pids.values())))

    @staticmethod
    def _started(lines: list[str]) -> dict[int, int]:
        """Worker number -> pid of its latest start, from a supervisor's output."""
        return {int(m[1]): int(m[2]) for line in lines if (m := WORKER_LINE.search(line))}

    def workers(self) -> list[int]:
        """The pids of the latest start's workers that are running now."""
        return [pid for pid in self._started(self.supervisor.lines).values() if not gone(pid)]

    def _leftovers(self) -> list[int]:
        """Workers of any start still running (in their start's process group: a pid
        reused by another process since is never taken for one)."""
        return [
            pid for life in self.lives for pid in self._started(life.lines).values()
            if not gone(pid) and _group(pid) == life.process.pid
        ]

    def busy_workers(self) -> list[int]:
        """Running workers of the latest start that hold a connection open now: a request
        in hand (clients open one per request)."""
        held = _open_connections(self.port)
        return [pid for pid in self.workers() if held & _sockets(pid)]

    def kill_worker(self) -> int:
        """SIGKILL a worker while it serves a request (its supervisor replaces it); its pid."""
        deadline = time.monotonic() + WAIT
        while not (busy := self.busy_workers()):
            assert time.monotonic() < deadline, f"{self.name}: no worker got a request"
            time.sleep(POLL)
        os.kill(busy[0], signal.SIGKILL)
        return busy[0]

    def kill_supervisor(self) -> float | None:
        """SIGKILL the supervisor alone; seconds until its workers had exited (None: not
        within :data:`WAIT`)."""
        workers = self.workers()
        self.supervisor.process.kill()
        self.supervisor.process.wait(WAIT)
        return wait_until_gone(workers)

    def kill_all(self) -> None:
        """SIGKILL the node's process group, its supervisor and every worker at once, while
        a worker serves a request."""
        deadline = time.monotonic() + WAIT
        while not self.busy_workers():
            assert time.monotonic() < deadline, f"{self.name}: no worker got a request"
            time.sleep(POLL)
        workers = self.workers()
        os.killpg(self.supervisor.process.pid, signal.SIGKILL)
        self.supervisor.process.wait(WAIT)
        assert wait_until_gone(workers) is not None, f"{self.name}: workers outlived SIGKILL"

    def stop(self) -> None:
        """Stop every start of the node (SIGTERM), then kill any worker still running."""
        with contextlib.ExitStack() as stack:
            stack.callback(self._kill_leftovers)
            for life in self.lives:
                stack.callback(life.stop)

    def _kill_leftovers(self) -> None:
        for pid in self._leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _open_connections(port: int) -> set[str]:
    """The sockets ("socket:[inode]") of the established connections accepted on
    127.0.0.1:``port`` (Linux /proc)."""
    local = f"0100007F:{port:04X}"  # as /proc/net/tcp writes it (little endian)
    with open("/proc/net/tcp", encoding="ascii") as table:
        return {f"socket:[{fields[9]}]" for line in table
                if len(fields := line.split()) > 9 and fields[1] == local and fields[3] == "01"}


def _sockets(pid: int) -> set[str]:
    """What the descriptors of process ``pid`` point to (empty once it ended)."""
    targets = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                targets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return targets


def _group(pid: int) -> int:
    """The process group of ``pid``; 0 once it ended."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return 0
