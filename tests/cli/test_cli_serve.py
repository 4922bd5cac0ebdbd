"""`tfa serve` as a real process on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import http.client
import io
import json
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tfa_processes import TfaProcess, clean_environ, local_environ, start_serve, tfa_command

from tfa_engine import catalogue
from tfa_engine.adapters.cli import serve

pytestmark = pytest.mark.network

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


def start_server(workdir: Path, *args: str) -> TfaProcess:
    """Start `tfa serve --port 0` in ``workdir`` and wait until it announces its address."""
    env = clean_environ()
    env.update(
        TFA_DATABASE=str(workdir / "tfa.db"), TFA_ARGON2_PROFILE="test", PYTHONUNBUFFERED="1"
    )
    return TfaProcess.announced(
        [*tfa_command(), "serve", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=workdir,
        env=env,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TfaProcess]:
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


def test_serve_listens_on_the_port_it_announces(server: TfaProcess) -> None:
    """The announced address is the real one: --port 0 became a bound port."""
    port = urlsplit(server.base_url).port
    assert port is not None and port > 0
    assert server.base_url.startswith("http://127.0.0.1:")


def test_code_requested_over_http_validates(server: TfaProcess) -> None:
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


def test_declared_token_with_malformed_allowlist_gets_66(server: TfaProcess) -> None:
    """The server started despite a broken declared allowlist; that token gets -66."""
    status, answer = post(
        server.base_url, "/1/2fa", BROKEN_TOKEN,
        {"client_ref": "login-2", "phone_number": "+4915123456789"},
    )
    assert (status, answer["result_info"]["status_code"]) == (
        catalogue.ALLOWLIST_INVALID.http, catalogue.ALLOWLIST_INVALID.code,
    )


def test_startup_output_names_the_malformed_entry(server: TfaProcess) -> None:
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
    assert code == 0, running.output()


def test_startup_log_names_the_database_by_its_absolute_path(tmp_path: Path) -> None:
    """TFA_DATABASE=relative.db is logged as the absolute path of that file, so an
    operator finds the database whatever directory the service was started in."""
    env = local_environ(tmp_path, TFA_DATABASE="relative.db")
    running = start_serve(tmp_path, env)
    try:
        expected = str((tmp_path / "relative.db").resolve())
        assert running.wait_for(r"database (\S+)")[1] == expected
    finally:
        running.stop()


def test_serve_warns_about_a_misspelt_variable(tmp_path: Path) -> None:
    """`tfa serve` names a TFA_* variable that is no setting, as every command does."""
    env = local_environ(tmp_path, TFA_DATABSE="other.db")
    running = start_serve(tmp_path, env)
    try:
        assert running.wait_for("TFA_DATABSE is not a tfa setting")
    finally:
        running.stop()


class _Writes(io.RawIOBase):
    """A raw stream that keeps each write it gets."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return len(data)


def test_the_serving_line_reaches_unbuffered_output_in_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With unbuffered output (PYTHONUNBUFFERED, as under tox), the announcement and its
    newline go out in one write: a log line from the gateway check's thread cannot split it
    (a test once read the port as ``454192026-12-07``)."""
    raw = _Writes()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
    serve.say("tfa serving on http://127.0.0.1:45419")
    assert raw.writes == [b"tfa serving on http://127.0.0.1:45419\n"]
