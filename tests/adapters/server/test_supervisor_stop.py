"""The workers' supervisor told to stop, with real forked processes: a worker that does not
stop when told (stuck in a request) is killed once the stop has taken ``stop_timeout``, and
the supervisor ends, saying so once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

STOP_TIMEOUT = 1.0
WAIT = 20.0  # bound of every wait here
# A supervisor of two workers that ignore SIGTERM once they serve, each saying so on stdout.
SCRIPT = f"""
import logging, os, signal, sys, time
from tfa_engine.adapters.server.workers import Supervisor

def work(number, ready):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready()
    print(f"worker {{number}} serves as {{os.getpid()}}", flush=True)
    while True:
        time.sleep(1)

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
sys.exit(Supervisor(2, work, stop_timeout={STOP_TIMEOUT}).run())
"""


def test_workers_that_do_not_stop_are_killed_after_the_stop_timeout() -> None:
    """SIGTERM: the two workers ignore it; after ``stop_timeout`` they are killed, the
    supervisor says so on one line and exits 0."""
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    workers: list[int] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + WAIT
        while len(workers) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if " serves as " in line:
                workers.append(int(line.rsplit(" ", 1)[1]))
        assert len(workers) == 2, "".join(lines)
        process.send_signal(signal.SIGTERM)
        told = time.monotonic()
        status = process.wait(timeout=WAIT)
        took = time.monotonic() - told
        lines.extend(process.stdout.readlines())
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        for pid in workers:  # whatever the outcome, no worker outlives the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    output = "".join(lines)
    assert status == 0, output
    assert STOP_TIMEOUT <= took < STOP_TIMEOUT + 5, output
    kills = [line for line in lines if "killing them" in line]
    assert len(kills) == 1, output
    assert all(str(pid) in kills[0] for pid in workers), output
