"""``GET /health/ready`` of a real ``tfa serve`` under a flood of probes: no durable write.

What the server writes is read from Linux's ``/proc/<pid>/io``: ``write_bytes`` counts what
the process sent towards the storage layer (every page it dirtied in a file, the database
and its WAL included, whether or not it was flushed yet), and nothing it wrote to sockets
or to its log pipe. The database lives in pytest's temporary folder, on a disk file system
(tmpfs pages are never counted there).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tfa_processes import TfaProcess, local_environ, start_serve

pytestmark = pytest.mark.network

FLOOD_THREADS = 16  # keep-alive clients probing back to back
FLOOD_SECONDS = 3.0
BYTES_PER_CALL = 512  # the acceptance bound, on average over the flood
MIN_CALLS = 200  # fewer would not be a flood (the old probe still made 400 calls/s)
HTTP_TIMEOUT = 10.0
VERDICT_TIMEOUT = 5.0  # seconds for a new verdict to show (the server reuses one for 1 s)


def written(pid: int) -> int:
    """Bytes process ``pid`` has caused to be written to storage so far."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "write_bytes":
            return int(value)
    raise AssertionError(f"/proc/{pid}/io has no write_bytes")


def flood(base_url: str, path: str) -> list[int]:
    """GET ``path`` from ``FLOOD_THREADS`` keep-alive connections for ``FLOOD_SECONDS``;
    every answer's HTTP status."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    deadline = time.monotonic() + FLOOD_SECONDS
    statuses: list[int] = []

    def probe() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
        try:
            while time.monotonic() < deadline:
                connection.request("GET", path)
                answer = connection.getresponse()
                answer.read()
                statuses.append(answer.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=probe, daemon=True) for _ in range(FLOOD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(FLOOD_SECONDS + 2 * HTTP_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return statuses


def test_a_flood_of_readiness_probes_writes_at_most_512_bytes_per_call(
    tmp_path: Path,
) -> None:
    """16 keep-alive clients probing /health/ready for 3 s: all 200, and the server writes
    at most 512 bytes to storage per call on average (no durable write per probe)."""
    server = start_serve(tmp_path, local_environ(tmp_path))
    try:
        assert flood(server.base_url, "/health/ready")  # warm: threads connected, file open
        before = written(server.process.pid)
        statuses = flood(server.base_url, "/health/ready")
        after = written(server.process.pid)
    finally:
        server.stop()
    assert len(statuses) >= MIN_CALLS
    assert set(statuses) == {200}
    per_call = (after - before) / len(statuses)
    assert per_call <= BYTES_PER_CALL, f"{per_call:.0f} bytes per call over {len(statuses)}"


def readiness(server: TfaProcess) -> tuple[int, int | None]:
    """(HTTP status, status_code or None) of one ``GET /health/ready``."""
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        connection.request("GET", "/health/ready")
        answer = connection.getresponse()
        body = json.loads(answer.read())
    finally:
        connection.close()
    return answer.status, body.get("result_info", {}).get("status_code")


def verdict_becomes(server: TfaProcess, expected: tuple[int, int | None]) -> bool:
    """Poll readiness until it answers ``expected``, for ``VERDICT_TIMEOUT`` at most."""
    deadline = time.monotonic() + VERDICT_TIMEOUT
    while time.monotonic() < deadline:
        if readiness(server) == expected:
            return True
        time.sleep(0.1)
    return False


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` made immutable (``chattr +i``) inside the block: no process may write it,
    not even root, as on a read-only mount."""
    subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True, timeout=10)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True, timeout=10)


@pytest.mark.parametrize("name", ["tfa.db", "."], ids=["database-file", "database-folder"])
def test_a_read_only_database_is_not_ready(tmp_path: Path, name: str) -> None:
    """While the database file or its folder cannot be written, /health/ready is 503 -78;
    200 again once it can."""
    server = start_serve(tmp_path, local_environ(tmp_path))
    try:
        assert readiness(server) == (200, None)
        with immutable(tmp_path / name):
            read_only = verdict_becomes(server, (503, -78))
        writable_again = verdict_becomes(server, (200, None))
    finally:
        server.stop()
    assert read_only
    assert writable_again
