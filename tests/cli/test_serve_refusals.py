"""`tfa serve` refuses oversized and malformed requests early, in the API's envelope:
what waitress refuses before the app sees a request is worded like the app's answers."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import pytest
from raw_http import RawReply, closed_by_peer, connect, exchange, read_reply
from tfa_processes import TfaProcess, local_environ, start_serve

from tfa_engine import Status, catalogue
from tfa_engine.adapters.server.settings import Settings

pytestmark = pytest.mark.network

MAX_BODY = Settings().max_body  # 16 KiB
HEAD = "POST /1/2fa HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TfaProcess]:
    """`tfa serve` with the default body limit."""
    workdir = tmp_path_factory.mktemp("refusals")
    running = start_serve(workdir, local_environ(workdir))
    try:
        yield running
    finally:
        running.stop()


def assert_envelope(reply: RawReply, status: Status) -> None:
    """The answer is ``status`` in the JSON envelope, and closes the connection."""
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert (reply.status, body["result_info"]) == (status.http, status.as_result_info())
    assert set(body) == {"api_job_id", "result_info"}


def test_announced_10_mb_body_is_73_before_it_is_sent(server: TfaProcess) -> None:
    """A 10 MB Content-Length gets -73 (413) within 1 s after 64 KiB of it: the server
    answers without waiting for the rest, and closes the connection."""
    with connect(server.base_url) as sock:
        sock.sendall(f"{HEAD}Content-Length: {10 * 1024 * 1024}\r\n\r\n".encode())
        started = time.monotonic()
        sock.sendall(b" " * 65536)
        reply = read_reply(sock, timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert_envelope(reply, catalogue.TOO_LARGE)
        assert closed_by_peer(sock, 1.0)


def test_endless_chunked_upload_is_cut_off_at_the_limit(server: TfaProcess) -> None:
    """A chunked upload that never ends gets -73 once about the limit has arrived: the
    client has sent at most the limit plus 64 KiB when the answer comes (it would go on
    to 4 MiB), then the connection is closed."""
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"  # 1 KiB of body per chunk
    sent = 0
    with connect(server.base_url) as sock:
        sock.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
        while sent < 4 * 1024 * 1024:
            if select.select([sock], [], [], 0.005)[0]:
                break  # an answer (or the end of the connection) is there
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += 1024
        assert sent <= MAX_BODY + 65536, f"{sent} bytes sent without an answer"
        assert_envelope(read_reply(sock, timeout=2.0), catalogue.TOO_LARGE)
        assert closed_by_peer(sock, 1.0)


REFUSED = [
    pytest.param(f"{HEAD}Content-Length: -1\r\n\r\n", catalogue.MALFORMED,
                 id="content-length-minus-1"),
    pytest.param(f"{HEAD}Content-Length: 1000000000000\r\n\r\n", catalogue.TOO_LARGE,
                 id="content-length-1e12"),
    pytest.param(f"{HEAD}Content-Length: twelve\r\n\r\n", catalogue.MALFORMED,
                 id="content-length-not-a-number"),
    pytest.param("POST /1/2fa\xff HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
                 catalogue.MALFORMED, id="raw-non-ascii-byte-in-path"),
    pytest.param("POST /1/2fa/ref/\xe9 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
                 catalogue.MALFORMED, id="raw-latin-1-byte-in-validate-path"),
    pytest.param(f"{HEAD}Transfer-Encoding: gzip\r\n\r\n", catalogue.MALFORMED,
                 id="unsupported-transfer-encoding"),
    pytest.param(f"{HEAD}Transfer-Encoding: chunked\r\n\r\nzz\r\n", catalogue.MALFORMED,
                 id="broken-chunk-size"),
    pytest.param(f"{HEAD}Bad Header Line\r\n\r\n", catalogue.MALFORMED, id="header-without-colon"),
    pytest.param("HELLO\r\n\r\n", catalogue.MALFORMED, id="no-request-line"),
    pytest.param(f"{HEAD}X-Big: {'a' * 300_000}\r\n\r\n", catalogue.MALFORMED,
                 id="headers-over-256-kib"),
]


@pytest.mark.parametrize(("request_text", "expected"), REFUSED)
def test_request_waitress_refuses_is_answered_in_the_envelope(
    server: TfaProcess, request_text: str, expected: Status
) -> None:
    """A request the server cannot use gets its catalogue status as JSON, not plain text."""
    reply = exchange(server.base_url, request_text.encode("latin-1"))
    assert_envelope(reply, expected)


def test_body_at_the_limit_still_reaches_the_app(server: TfaProcess) -> None:
    """A body of exactly TFA_MAX_BODY bytes is not refused as too large: it reaches the
    API, which judges the request (here -50, an unknown token)."""
    request = f"{HEAD}Content-Length: {MAX_BODY}\r\nAuthorization: Token x\r\n\r\n"
    reply = exchange(server.base_url, request.encode() + b" " * MAX_BODY)
    assert reply.json()["result_info"] == catalogue.TOKEN_INVALID.as_result_info()
