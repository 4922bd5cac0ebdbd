"""An SMSC that is not ours for the smpp gateway's tests: node-smpp's server, run by
tests/support/smsc/smsc.js on 127.0.0.1, told what to do and asked what it received over
its HTTP control port.

Its packages are installed with ``npm ci --prefix tests/support/smsc``; without them (or
without node) :func:`running_smsc` fails saying so. The process ends when its stdin closes,
so it cannot outlive the test session, and :func:`running_smsc` stops it in any case.
"""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

HERE = Path(__file__).resolve().parent / "smsc"
INSTALL = "npm ci --prefix tests/support/smsc"
START_TIMEOUT = 15.0  # seconds for node to load node-smpp and listen
SYSTEM_ID, PASSWORD = "tfa", "s3cret"


class Smsc:
    """A running node-smpp SMSC: ``port`` takes SMPP; the methods talk to its control port."""

    def __init__(self, port: int, control: int, process: subprocess.Popen[bytes]) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.control = control
        self.process = process

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.control}{path}", data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def behave(self, **changes: Any) -> None:
        """Change how it answers (see smsc.js: throttle, queue_full, refuse, delay_ms,
        receipt, receipt_first, tlvs)."""
        self._call("/behave", changes)

    def receipt(self, message_id: str, stat: str, *, tlvs: bool = True,
                text_id: str | None = None, text_stat: str | None = None) -> None:
        """Send one deliver_sm receipt for ``message_id`` on the latest bound session;
        its text says ``text_id`` and ``text_stat`` instead where given."""
        self._call("/receipt", {"message_id": message_id, "stat": stat, "tlvs": tlvs,
                                "text_id": text_id, "text_stat": text_stat})

    def drop(self) -> int:
        """Close every session's socket without an unbind; how many there were."""
        return int(self._call("/drop", {})["dropped"])

    def submits(self) -> list[dict[str, Any]]:
        """Every submit_sm received, as node-smpp decoded it."""
        return list(self._call("/submits"))

    def binds(self) -> list[dict[str, Any]]:
        """Every bind received: command, system_id, system_type, accepted."""
        return list(self._call("/binds"))

    def state(self) -> dict[str, Any]:
        """Bound sessions, enquire_links received, and the statuses receipts were answered."""
        return dict(self._call("/state"))


def wait_for(probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``probe`` until it returns something true; that value. AssertionError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout:g}s")
        time.sleep(interval)


@contextmanager
def running_smsc(system_id: str = SYSTEM_ID, password: str = PASSWORD,
                 tls: tuple[Path, Path] | None = None) -> Iterator[Smsc]:
    """Start the SMSC accepting binds of ``system_id``/``password`` (over TLS only, with
    ``tls``: the key's and the certificate's PEM files); stopped afterwards."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "smpp").is_dir():
        raise RuntimeError(f"the test SMSC needs node and its packages: run `{INSTALL}`")
    process = subprocess.Popen(
        [node, str(HERE / "smsc.js"), system_id, password, *map(str, tls or ())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        ports = _first_line(process)
        yield Smsc(int(ports["smpp"]), int(ports["control"]), process)
    finally:
        _stop(process)


def _first_line(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The ports the SMSC prints once it listens, waiting at most START_TIMEOUT."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise RuntimeError(f"the test SMSC did not listen within {START_TIMEOUT:g}s")
            chunk = process.stdout.read1(256)  # type: ignore[attr-defined]
            if not chunk:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"the test SMSC ended at start: {error.strip()}")
            line += chunk
    ports: dict[str, Any] = json.loads(line)
    return ports


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the SMSC: closing stdin tells it to exit; a kill if it does not."""
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1 (PEM files in ``folder``), made by openssl."""
    key, cert = folder / "smsc-key.pem", folder / "smsc-cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return key, cert
