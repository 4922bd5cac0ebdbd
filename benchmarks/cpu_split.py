"""Where a request's CPU goes in ``tfa serve`` at the ``owasp`` profile: the two argon2
threads against every other thread, for request-code and validate-code, with durable
(``FULL``) and ``NORMAL`` SQLite commits.

    python -m benchmarks.cpu_split [--runs 3] [--duration 5] [--connections 16]

A diagnostic, not a target: it prints a table and writes nothing. The hasher runs every
argon2 pass on as many dedicated threads as there are CPUs, and those threads do nothing
else, so the busiest that many threads of the server are its argon2 threads.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from . import inprocess
from .loadgen import LoadSettings, RequestCodes, ValidateCodes, run_load, wrk_path
from .service import create_token, tfa_environ, tfa_server

PROFILE = "owasp"


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """Each thread's (user, system) CPU seconds so far, by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        found[int(task.name)] = (int(fields[11]) / ticks, int(fields[12]) / ticks)
    return found


def split(before: dict[int, tuple[float, float]], after: dict[int, tuple[float, float]],
          requests: int, hashers: int) -> dict[str, float]:
    """Milliseconds of CPU per request: all threads, the ``hashers`` busiest, the rest."""
    deltas = []
    for tid, (user, system) in after.items():
        was = before.get(tid, (0.0, 0.0))
        deltas.append((user - was[0], system - was[1]))
    deltas.sort(key=lambda pair: pair[0] + pair[1], reverse=True)
    total = sum(u + s for u, s in deltas)
    argon2 = sum(u + s for u, s in deltas[:hashers])
    system = sum(s for _, s in deltas[hashers:])
    per = 1000 / max(requests, 1)
    return {"total": total * per, "argon2": argon2 * per, "rest": (total - argon2) * per,
            "rest_sys": system * per}


def measure(workdir: Path, synchronous: str, options: argparse.Namespace) -> dict[str, Any]:
    """Median per-request CPU split of request-code and validate-code for one mode."""
    pepper = secrets.token_hex(16)
    database = workdir / f"{synchronous}.db"
    env = tfa_environ(database, PROFILE, pepper, TFA_SQLITE_SYNCHRONOUS=synchronous)
    token = create_token(env)
    client = "wrk" if wrk_path() else "python"
    settings = LoadSettings(options.connections, options.duration, 1_000_000, client)
    hashers = os.cpu_count() or 2
    results: dict[str, list[dict[str, float]]] = {"request_code": [], "validate_code": []}
    with tfa_server(f"split-{synchronous}", env, workdir, options.threads) as server:
        assert server.process is not None
        pid = server.process.pid
        run_load(server.url, RequestCodes(token, "warm"), LoadSettings(
            options.connections, 2, 1_000_000, client))
        for index in range(options.runs):
            before = thread_cpu(pid)
            run = run_load(server.url, RequestCodes(token, f"rc{index}"), settings)
            row = split(before, thread_cpu(pid), run["requests"], hashers)
            row["rps"] = run["rps"]
            results["request_code"].append(row)

            count = int(run["rps"] * 1.6 * options.duration) + 4 * options.connections
            pairs = inprocess.issue_codes(database, PROFILE, pepper, token, f"vc{index}", count)
            before = thread_cpu(pid)
            run = run_load(server.url, ValidateCodes(token, pairs),
                           LoadSettings(options.connections, options.duration, len(pairs),
                                        client))
            row = split(before, thread_cpu(pid), run["requests"], hashers)
            row["rps"] = run["rps"]
            results["validate_code"].append(row)
    return {op: {key: median(row[key] for row in rows) for key in rows[0]}
            for op, rows in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=32)
    options = parser.parse_args()
    print(f"tfa serve, {PROFILE}, {options.connections} connections, {options.threads} "
          f"threads, medians of {options.runs} runs of {options.duration} s; "
          "CPU ms per request")
    print(f"{'SQLite':8} {'endpoint':14} {'req/s':>7} {'total':>7} {'argon2':>7} "
          f"{'rest':>7} {'rest sys':>8}")
    with tempfile.TemporaryDirectory(prefix="tfa-cpu-split-") as tmp:
        for synchronous in ("full", "normal"):
            for op, row in measure(Path(tmp), synchronous, options).items():
                print(f"{synchronous:8} {op:14} {row['rps']:7.1f} {row['total']:7.1f} "
                      f"{row['argon2']:7.1f} {row['rest']:7.1f} {row['rest_sys']:8.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
