"""A `tfa` command running as a real process, for the tests that start servers.

Importable from every test directory (pytest's ``pythonpath`` holds ``tests/support``). The merged
stdout and stderr are read by a thread, so waits for a line are bounded and never block on
the pipe; ``stop`` always ends the process, killing it if a signal is not enough.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
LINE_TIMEOUT = 10.0  # seconds for an expected output line to appear
START_TIMEOUT = 30.0  # seconds for a server to announce its address
STOP_TIMEOUT = 15.0  # seconds for a process to stop after a signal
COMMAND_TIMEOUT = 30.0  # seconds for a one-shot `tfa` command
SERVING = r"tfa serving on (http://\S+)"  # what `tfa serve` prints once it listens


def tfa_command() -> list[str]:
    """How to run ``tfa`` with this interpreter (the package is installed; the console
    script need not be)."""
    return [sys.executable, "-m", "tfa_engine.adapters.cli"]


def clean_environ() -> dict[str, str]:
    """The caller's environment without any TFA_* variable."""
    return {name: value for name, value in os.environ.items() if not name.startswith("TFA_")}


def create_token_json(
    cwd: Path | str, env: Mapping[str, str], name: str, *options: str
) -> dict[str, Any]:
    """``tfa token create --name NAME [OPTIONS] --json`` on ``env``'s database: what it
    printed."""
    done = subprocess.run(
        [*tfa_command(), "token", "create", "--name", name, *options, "--json"],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie nobody reaped yet counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def local_environ(workdir: Path, **variables: str) -> dict[str, str]:
    """An environment for ``tfa`` in ``workdir``: its own database there, the memory
    gateway, cheap hashing, unbuffered output, then ``variables``."""
    env = clean_environ()
    env.update(
        TFA_DATABASE=str(workdir / "tfa.db"),
        TFA_GATEWAY="memory",
        TFA_ARGON2_PROFILE="test",
        PYTHONUNBUFFERED="1",
    )
    env.update(variables)
    return env


def start_serve(workdir: Path, env: Mapping[str, str]) -> TfaProcess:
    """``tfa serve --host 127.0.0.1 --port 0`` in ``workdir``, once it says where it listens."""
    return TfaProcess.announced(
        [*tfa_command(), "serve", "--host", "127.0.0.1", "--port", "0"], cwd=workdir, env=env
    )


class TfaProcess:
    """A running command whose output lines (without their newline) are collected."""

    def __init__(
        self, command: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], name: str = "tfa"
    ) -> None:
        self.name = name
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.base_url = ""
        self._ended = False
        self._changed = threading.Condition()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    @classmethod
    def announced(
        cls,
        command: Sequence[str],
        *,
        cwd: Path | str,
        env: Mapping[str, str],
        name: str = "tfa serve",
        pattern: str = SERVING,
        timeout: float = START_TIMEOUT,
    ) -> TfaProcess:
        """Start ``command`` and wait for the line ``pattern`` matches, whose first group
        (the address it listens on) becomes ``base_url``; killed if it never comes."""
        running = cls(command, cwd=cwd, env=env, name=name)
        try:
            running.base_url = running.wait_for(pattern, timeout)[1]
        except BaseException:
            running.stop(signal.SIGKILL)
            raise
        return running

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def output(self) -> str:
        """Everything the process printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def mark(self) -> int:
        """A position in the output: ``wait_for(..., since=mark)`` looks only after it."""
        with self._changed:
            return len(self.lines)

    def wait_until(
        self, found: Callable[[list[str]], T | None], what: str, timeout: float = LINE_TIMEOUT
    ) -> T:
        """The first non-None ``found(lines)``, re-evaluated as lines arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = found(self.lines)
                if result is not None:
                    return result
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    state = "the process exited" if self._ended else f"none within {timeout}s"
                    raise AssertionError(
                        f"{self.name}: {what}: {state}; output:\n" + "\n".join(self.lines)
                    )
                self._changed.wait(remaining)

    def wait_for(
        self, pattern: str, timeout: float = LINE_TIMEOUT, since: int = 0
    ) -> re.Match[str]:
        """The first output line after ``since`` matching ``pattern``."""

        def match(lines: list[str]) -> re.Match[str] | None:
            return next((m for line in lines[since:] if (m := re.search(pattern, line))), None)

        return self.wait_until(match, f"a line matching {pattern!r}", timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit code; kill the process if it does not stop."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
                raise AssertionError(f"{self.name} did not stop after signal {sig}") from None
        finally:
            # The process is gone: the reader reaches end of file, then the pipe can close.
            self._pump_thread.join(timeout=STOP_TIMEOUT)
            if self.process.stdout is not None and not self._pump_thread.is_alive():
                self.process.stdout.close()
