"""Request-code beside a flood of health probes: ``/health/ready`` against ``/health``.

    python -m benchmarks.probe_flood [--duration 5] [--runs 3] [--connections 16]
                                     [--probers 16] [--threads 32] [--profile owasp]

One ``tfa serve`` (SQLite, durable commits, the argon2 profile, memory gateway, rate limits
off). Per run and per probe (none, ``/health``, ``/health/ready``): ``connections``
keep-alive clients request codes for ``duration`` seconds while ``probers`` keep-alive
clients GET the probe back to back. Printed: request-code/s and p99, probe calls/s, and
the bytes the server wrote to storage per probe call while probes run alone (Linux's
``/proc/PID/io`` ``write_bytes``). The load generator shares the machine with the server,
so compare the rows with one another, not with other tables.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from .loadgen import LoadSettings, RequestCodes, run_load
from .service import create_token, tfa_environ, tfa_server

PROBES = ("none", "/health", "/health/ready")
REQUEST_LIMIT = 10_000_000  # the duration ends a run, never the count


def written(pid: int) -> int:
    """Bytes process ``pid`` has caused to be written to storage."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "write_bytes":
            return int(value)
    raise RuntimeError(f"/proc/{pid}/io has no write_bytes")


class Probers:
    """``count`` threads GETting ``path`` back to back on keep-alive connections until
    stopped; ``calls`` counts the answers."""

    def __init__(self, base_url: str, path: str, count: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port, path
        self.calls = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._probe, daemon=True) for _ in range(count)]

    def _probe(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            while not self._stop.is_set():
                conn.request("GET", self.path)
                conn.getresponse().read()
                with self._lock:
                    self.calls += 1
        finally:
            conn.close()

    def __enter__(self) -> Probers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def bytes_per_probe(base_url: str, pid: int, path: str, count: int, seconds: float) -> float:
    """Bytes the server writes per call of ``path`` while only probes run."""
    before = written(pid)
    with Probers(base_url, path, count) as probers:
        time.sleep(seconds)
    return (written(pid) - before) / max(probers.calls, 1)


def main() -> None:
    """Run the comparison and print one row per probe."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe_flood")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--probers", type=int, default=16)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--profile", default="owasp", help="argon2 profile (owasp, test)")
    args = parser.parse_args()
    settings = LoadSettings(args.connections, args.duration, REQUEST_LIMIT, "python")
    rows: dict[str, list[tuple[float, float, float]]] = {probe: [] for probe in PROBES}
    with tempfile.TemporaryDirectory(prefix="tfa-probe-flood-") as tmp:
        workdir = Path(tmp)
        env = tfa_environ(workdir / "tfa.db", args.profile, "probe-flood-pepper-0123456789abcdef")
        token = create_token(env)
        with tfa_server("probe-flood", env, workdir, args.threads) as server:
            assert server.process is not None
            pid = server.process.pid
            written_per_call = {
                path: bytes_per_probe(server.url, pid, path, args.probers, args.duration)
                for path in PROBES[1:]
            }
            for run in range(args.runs):
                for probe in PROBES:
                    source = RequestCodes(token, f"run{run}-{probe.strip('/') or 'none'}")
                    if probe == "none":
                        result, calls = run_load(server.url, source, settings), 0
                    else:
                        with Probers(server.url, probe, args.probers) as probers:
                            result = run_load(server.url, source, settings)
                        calls = probers.calls
                    rows[probe].append(
                        (result["rps"], result["p99_ms"] or 0.0, calls / result["elapsed_s"]))
    print(f"request-code ({args.profile}), {args.connections} connections, {args.probers}"
          f" probers, {args.runs} x {args.duration} s (medians)")
    print(f"{'probe':<15}{'request-code/s':>16}{'p99 ms':>9}{'probes/s':>10}"
          f"{'bytes/probe':>13}")
    for probe, results in rows.items():
        per_call = written_per_call.get(probe)
        print(f"{probe:<15}{statistics.median(r[0] for r in results):>16.1f}"
              f"{statistics.median(r[1] for r in results):>9.1f}"
              f"{statistics.median(r[2] for r in results):>10.0f}"
              f"{'' if per_call is None else f'{per_call:.0f}':>13}")


if __name__ == "__main__":
    main()
