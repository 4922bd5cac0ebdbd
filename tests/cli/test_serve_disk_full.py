"""A real `tfa serve` whose disk fills up: 503 -78 with Retry-After while it is full, the
readiness probe says so (before request-codes start failing), one log line instead of a
traceback per request, no 201 lost, and service again by itself once space is freed.

The disk is a small tmpfs the test mounts (the tests run as root, as CI does).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tfa_processes import TfaProcess, create_token_json, local_environ, start_serve

from tfa_engine.store.sqlite import free_space_margin

pytestmark = pytest.mark.network

TIMEOUT = 10.0
PHONES = [f"+4479111234{n:02d}" for n in range(40)]
READY_TTL = 1.0  # seconds the server reuses a readiness verdict
# Free space left when the disk is filled step by step: about 4 request-codes (each
# appends about 95 KB to the WAL) more than readiness keeps free (free_space_margin, plus
# the pages the next checkpoint adds to the database file).
HEADROOM = free_space_margin(4096) + 4 * 95_000
MAX_STEPS = 20  # request-codes before the disk must have filled


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"mounting a small tmpfs needs root: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Fill the file system holding ``directory`` to the last byte; the filler file."""
    filler = directory / "filler"
    # Unbuffered: what a write could not put on the disk is not flushed again on close
    # (a buffered file raised ENOSPC there once the disk was full).
    with open(filler, "wb", buffering=0) as handle:
        chunk = b"\0" * 65536
        try:
            while True:
                handle.write(chunk)
        except OSError:
            pass
        try:
            while True:  # the last bytes, a page at a time
                handle.write(chunk[:4096])
        except OSError:
            pass
    return filler


def fill_leaving(directory: Path, free: int) -> Path:
    """Fill the file system holding ``directory`` until about ``free`` bytes are left; the
    filler file."""
    disk = os.statvfs(directory)
    size = disk.f_bavail * disk.f_frsize - free
    assert size > 0, f"only {disk.f_bavail * disk.f_frsize} bytes free"
    filler = directory / "filler"
    with open(filler, "wb") as handle:
        for offset in range(0, size, 65536):
            handle.write(b"\0" * min(65536, size - offset))
    return filler


def call(server: TfaProcess, method: str, path: str, token: str | None = None,
         body: Any = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(HTTP status, JSON answer, headers) of one request."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the test server's http:// URL
        server.base_url + path, data=data if method == "POST" else None, method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def send(server: TfaProcess, token: str, ref: str, phone: str) -> tuple[int, int, str | None]:
    """Request a code: (HTTP status, status_code, the code if one was sent)."""
    mark = server.mark()
    status, answer, _ = call(server, "POST", "/1/2fa", token,
                             {"client_ref": ref, "phone_number": phone})
    code = None
    if status == 201:
        code = server.wait_for(rf"SMS to \{phone} from .*: .*\b(\d{{6}})\b", since=mark)[1]
    return status, answer["result_info"]["status_code"], code


def readiness(server: TfaProcess) -> tuple[int, int | None]:
    """(HTTP status, status_code or None) of ``/health/ready`` once the verdict the server
    holds is older than its time to live, so that it reflects the disk as it is now."""
    time.sleep(READY_TTL + 0.1)  # a real process: its clock cannot be advanced
    status, answer, _ = call(server, "GET", "/health/ready")
    return status, answer.get("result_info", {}).get("status_code")


def ready_again(server: TfaProcess, timeout: float = TIMEOUT) -> bool:
    """Poll ``/health/ready`` until it answers 200, for ``timeout`` seconds at most."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if call(server, "GET", "/health/ready")[0] == 200:
            return True
        time.sleep(0.1)
    return False


def test_a_full_disk_is_503_78_then_service_returns_by_itself(small_disk: Path) -> None:
    """While the disk is full every request is 503 -78 with Retry-After (health still 200,
    readiness 503), no traceback is logged, and once space is freed requests succeed and
    every code acknowledged before validates."""
    env = local_environ(small_disk, TFA_GATEWAY="console", TFA_LIMIT_PHONE_SENDS="50/600")
    token = create_token_json(small_disk, env, "disk")["token"]
    server = start_serve(small_disk, env)
    try:
        sent = {}
        for n in range(3):
            status, _, code = send(server, token, f"before-{n}", PHONES[n])
            assert status == 201
            sent[f"before-{n}"] = code
        filler = fill(small_disk)
        mark = server.mark()
        refused = [send(server, token, f"full-{n}", PHONES[10 + n]) for n in range(10)]
        assert {(status, code) for status, code, _ in refused} == {(503, -78)}
        status, answer, headers = call(server, "POST", "/1/2fa/before-0/000000", token)
        assert (status, answer["result_info"]["status_code"]) == (503, -78)
        assert headers.get("Retry-After") == "5"
        assert call(server, "GET", "/health")[0] == 200
        ready = call(server, "GET", "/health/ready")
        assert (ready[0], ready[1]["result_info"]["status_code"]) == (503, -78)
        during = server.output().splitlines()[mark:]
        assert not any("Traceback" in line for line in during)
        assert sum("cannot serve" in line or "unavailable" in line.lower()
                   for line in during) <= 2

        filler.unlink()
        assert ready_again(server)
        status, _, code = send(server, token, "after", PHONES[30])
        assert status == 201
        sent["after"] = code
        for ref, code in sent.items():
            status, answer, _ = call(server, "POST", f"/1/2fa/{ref}/{code}", token)
            assert answer["result_info"]["status_code"] == 0, ref
    finally:
        server.stop()


def test_readiness_says_503_before_request_codes_fail(small_disk: Path) -> None:
    """Filling the disk step by step: /health/ready says 200 only while request-codes are
    stored, turns 503 -78 before the first one fails and still says so then, and says 200
    again once space is freed."""
    env = local_environ(small_disk, TFA_GATEWAY="console", TFA_LIMIT_PHONE_SENDS="50/600")
    token = create_token_json(small_disk, env, "disk")["token"]
    server = start_serve(small_disk, env)
    phones = iter(PHONES)
    try:
        assert send(server, token, "warm", next(phones))[0] == 201
        filler = fill_leaving(small_disk, HEADROOM)
        while_ready = []  # each request-code sent right after a 200 verdict
        verdict = readiness(server)
        while verdict[0] == 200 and len(while_ready) < MAX_STEPS:
            while_ready.append(send(server, token, f"ready-{len(while_ready)}", next(phones))[0])
            verdict = readiness(server)
        after_503 = []  # request-codes sent once it said 503, until one fails
        while (not after_503 or after_503[-1] == 201) and len(after_503) < MAX_STEPS:
            after_503.append(send(server, token, f"full-{len(after_503)}", next(phones))[0])
        at_failure = readiness(server)
        filler.unlink()
        freed_ready = ready_again(server)
        after = send(server, token, "after", next(phones))[0]
    finally:
        server.stop()
    assert while_ready and set(while_ready) == {201}, while_ready
    assert verdict == (503, -78)
    assert after_503[0] == 201 and after_503[-1] == 503, after_503  # 503 came first
    assert at_failure == (503, -78)
    assert freed_ready and after == 201
