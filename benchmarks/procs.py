"""Servers in child processes: start, wait for their "serving on URL" line, measure, stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
_URL = re.compile(r"serving on (http://\S+)")
_SWITCHES = re.compile(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", re.MULTILINE)
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


def children(pid: int) -> list[int]:
    """The process's children (its workers, for a server with several), from /proc."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                found += [int(n) for n in (task / "children").read_text().split()]
            except OSError:
                continue
    except OSError:
        return []
    return found


def process_counters(pid: int) -> dict[str, float] | None:
    """CPU seconds (user, system) and context switches, summed over the process's threads
    and over its children's (a server's workers), read from /proc; None where /proc cannot
    tell (not Linux, or the process is gone).

    Threads that have exited are not counted: the servers measured keep theirs for life.
    """
    own = _own_counters(pid)
    if own is None:
        return None
    for child in children(pid):
        extra = _own_counters(child)
        if extra is not None:
            for key in own:
                own[key] += extra[key]
    return own


def database_server_seconds() -> float | None:
    """CPU seconds (user and system) used so far by every PostgreSQL server process of this
    machine that /proc shows (``postgres`` and its backends, autovacuum and writers); None
    when there is none (a database elsewhere, or not Linux). Processes that have exited
    (backends of closed connections) are not counted: a server's pool keeps its own."""
    total, found = 0.0, False
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text(encoding="ascii").startswith("postgres"):
                continue
        except (OSError, UnicodeDecodeError):
            continue
        counters = _own_counters(int(entry.name))
        if counters is not None:  # None: it exited meanwhile
            total += counters["user_s"] + counters["sys_s"]
            found = True
    return total if found else None


def _own_counters(pid: int) -> dict[str, float] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        switches = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                status = (task / "status").read_text(encoding="ascii", errors="replace")
            except OSError:  # the thread ended meanwhile
                continue
            switches += sum(int(n) for n in _SWITCHES.findall(status))
    except (OSError, IndexError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[0] is the state (field 3 of stat): utime and stime are fields 14 and 15
    return {"user_s": int(fields[11]) / ticks, "sys_s": int(fields[12]) / ticks,
            "switches": float(switches)}


class ServerFailed(RuntimeError):
    """The server exited or said nothing before it was ready; the message says why."""


def clean_environ(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``TFA_*`` variable, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TFA_")}
    env.update(extra)
    return env


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM) in MiB, or None when it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


class Server:
    """A child process that prints ``... serving on http://HOST:PORT`` once it listens.

    Its output goes to files in ``logdir`` (a console gateway would fill a pipe); use it as
    a context manager, which always stops it (SIGTERM, then SIGKILL after a grace period).
    """

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str],
                 logdir: Path, *, cwd: Path = REPO) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.stdout_path = logdir / f"{name}.out"
        self.stderr_path = logdir / f"{name}.err"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until it has said where it listens."""
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd,
            )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                match = _URL.search(self.stdout_path.read_text(errors="replace"))
                if match:
                    self.url = match.group(1).rstrip("/")
                    return
                if self.process.poll() is not None:
                    raise ServerFailed(
                        f"{self.name} exited with {self.process.returncode}: {self.error_text()}"
                    )
                time.sleep(0.05)
            raise ServerFailed(f"{self.name} did not start within {timeout:.0f} s")
        except BaseException:
            self.stop()
            raise

    def error_text(self, limit: int = 400) -> str:
        """The last lines of the server's stderr, on one line."""
        try:
            text = self.stderr_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-3:])[-limit:]

    def peak_rss_mib(self) -> float | None:
        """The child's peak resident set size so far, in MiB."""
        return None if self.process is None else peak_rss_mib(self.process.pid)

    def counters(self) -> dict[str, float] | None:
        """The child's CPU seconds and context switches so far (see :func:`process_counters`)."""
        return None if self.process is None else process_counters(self.process.pid)

    def stop(self) -> None:
        """Stop the child (idempotent)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
