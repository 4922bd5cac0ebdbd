"""`tfa serve` as a real process on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine import catalogue

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # seconds for the process to start listening
LINE_TIMEOUT = 10.0  # seconds for an expected line (an SMS) to appear
STOP_TIMEOUT = 15.0  # seconds for a clean shutdown after a signal
SHOP_TOKEN = "6a0c1f8e-3b7d-4e52-9c14-8d2f0a6b3e71"
BROKEN_TOKEN = "c3e5a7b9-1d2f-4a6c-8e0b-2f4d6a8c0e1b"
BAD_ENTRY = "127.0.0.300"
CONFIG = f"""
[[tokens]]
name = "shop"
token = "{SHOP_TOKEN}"
allowed_ips = ["127.0.0.1"]

[[tokens]]
name = "broken"
token = "{BROKEN_TOKEN}"
allowed_ips = ["{BAD_ENTRY}"]
"""


class ServerProcess:
    """A running `tfa serve`; its stdout and stderr are read line by line by a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.base_url = ""

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = LINE_TIMEOUT) -> re.Match[str]:
        """The first output line (seen so far or within ``timeout``) matching ``pattern``."""
        for seen in self.output:
            if match := re.search(pattern, seen):
                return match
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"tfa serve exited; output:\n{''.join(self.output)}")
            self.output.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no {pattern!r} within {timeout}s; output:\n{''.join(self.output)}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit code; kill the process if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            raise AssertionError("tfa serve did not stop after a signal") from None
        finally:
            # The process is gone: the reader sees end of file, then the pipe can close.
            self._pump_thread.join(timeout=STOP_TIMEOUT)
            if self.process.stdout is not None and not self._pump_thread.is_alive():
                self.process.stdout.close()


def start_server(workdir: Path, *args: str) -> ServerProcess:
    """Start `tfa serve --port 0` in ``workdir`` and wait until it announces its address."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TFA_")}
    env.update(
        TFA_DATABASE=str(workdir / "tfa.db"),
        TFA_ARGON2_PROFILE="test",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--host", "127.0.0.1", "--port", "0",
         *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = ServerProcess(process)
    try:
        server.base_url = server.wait_for(r"tfa serving on (http://\S+)", START_TIMEOUT)[1]
    except BaseException:
        server.process.kill()
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`tfa serve --config` with one good and one broken declared token."""
    workdir = tmp_path_factory.mktemp("serve")
    (workdir / "tfa.toml").write_text(CONFIG, encoding="utf-8")
    running = start_server(workdir, "--config", str(workdir / "tfa.toml"))
    try:
        yield running
    finally:
        running.stop()


def post(base_url: str, path: str, token: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """POST to the server; the HTTP status and the decoded JSON answer."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    headers = {"Authorization": f"Token {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request("POST", path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_serve_listens_on_the_port_it_announces(server: ServerProcess) -> None:
    """The announced address is the real one: --port 0 became a bound port."""
    port = urlsplit(server.base_url).port
    assert port is not None and port > 0
    assert server.base_url.startswith("http://127.0.0.1:")


def test_code_requested_over_http_validates(server: ServerProcess) -> None:
    """A code sent through the console gateway validates over HTTP: Valid."""
    phone = "+447911123456"
    status, answer = post(
        server.base_url, "/1/2fa", SHOP_TOKEN, {"client_ref": "login-1", "phone_number": phone}
    )
    assert (status, answer["result_info"]["status_code"]) == (
        catalogue.SUCCESS.http, catalogue.SUCCESS.code,
    )
    code = server.wait_for(rf"SMS to \{phone} from .*: .*\b(\d{{6}})\b")[1]
    status, answer = post(server.base_url, f"/1/2fa/login-1/{code}", SHOP_TOKEN)
    assert status == catalogue.VALID.http
    assert answer["result_info"] == catalogue.VALID.as_result_info()


def test_declared_token_with_malformed_allowlist_gets_66(server: ServerProcess) -> None:
    """The server started despite a broken declared allowlist; that token gets -66."""
    status, answer = post(
        server.base_url, "/1/2fa", BROKEN_TOKEN,
        {"client_ref": "login-2", "phone_number": "+4915123456789"},
    )
    assert (status, answer["result_info"]["status_code"]) == (
        catalogue.ALLOWLIST_INVALID.http, catalogue.ALLOWLIST_INVALID.code,
    )


def test_startup_output_names_the_malformed_entry(server: ServerProcess) -> None:
    """At start-up the server warns, naming the token and the entry that does not parse."""
    assert server.wait_for(rf"'broken'.*{re.escape(repr(BAD_ENTRY))}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_with_exit_0(tmp_path: Path, sig: int) -> None:
    """A server with no token says how to create one, and a signal stops it cleanly (exit 0)."""
    running = start_server(tmp_path)
    try:
        running.wait_for("tfa token create --name NAME")
    finally:
        code = running.stop(sig)
    assert code == 0
