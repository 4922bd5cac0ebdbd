"""`tfa serve` under connections that send nothing, or a byte at a time: legitimate
requests are still answered within 1 s, and slow clients are dropped at the deadline."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest
from raw_http import RawReply, closed_by_peer, connect, exchange, read_reply
from tfa_processes import create_token_json, local_environ, start_serve

from tfa_engine import catalogue

pytestmark = pytest.mark.network

IDLE = 500  # connections that send nothing
SLOW = 100  # connections that send a request's head one byte at a time
DRIP = 0.5  # seconds between two bytes of a slow connection
TIMEOUT = 4  # TFA_CHANNEL_TIMEOUT of the server under test, in seconds
ANSWER_WITHIN = 1.0  # seconds a legitimate request may take meanwhile
SLOW_HEAD = b"POST /1/2fa HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 10_000


@pytest.fixture
def open_files() -> Iterator[None]:
    """This process may hold every connection the test opens (soft RLIMIT_NOFILE)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE + SLOW + 200
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def dripping(sockets: list[socket.socket]) -> Iterator[None]:
    """Send SLOW_HEAD on each socket, one byte every DRIP seconds, until the block ends
    (a socket the server has closed is left alone)."""
    stop = threading.Event()

    def drip() -> None:
        for position in range(len(SLOW_HEAD)):
            for sock in sockets:
                with suppress(OSError):  # closed by the server: the test looks later
                    sock.send(SLOW_HEAD[position : position + 1])
            if stop.wait(DRIP):
                return

    thread = threading.Thread(target=drip, name="slow-clients", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def timed_exchange(base_url: str, request: bytes) -> tuple[float, RawReply]:
    """Seconds the exchange took, and the answer (which must come within ANSWER_WITHIN)."""
    started = time.monotonic()
    reply = exchange(base_url, request, timeout=ANSWER_WITHIN)
    return time.monotonic() - started, reply


# slow: 600 connections for 6 s, whose 1 s bound holds on a machine not saturated by
# several suites in parallel (tox runs it once, in `full`)
@pytest.mark.slow
def test_requests_are_answered_while_many_connections_idle_or_drip(
    tmp_path: Path, open_files: None
) -> None:
    """With 500 idle and 100 slow-header connections open, /health and a validation are
    answered within 1 s each; the slow connections are closed by TFA_CHANNEL_TIMEOUT
    (4 s here) plus 2 s, although they keep sending."""
    env = local_environ(tmp_path, TFA_CHANNEL_TIMEOUT=str(TIMEOUT))
    token = create_token_json(tmp_path, env, "shop")["token"]
    server = start_serve(tmp_path, env)
    validate = (
        f"POST /1/2fa/login-1/123456 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    try:
        with ExitStack() as stack:
            opened = time.monotonic()
            idle = [stack.enter_context(connect(server.base_url)) for _ in range(IDLE)]
            slow = [stack.enter_context(connect(server.base_url)) for _ in range(SLOW)]
            stack.enter_context(dripping(slow))
            health_took, health_reply = timed_exchange(server.base_url, health)
            validate_took, validate_reply = timed_exchange(server.base_url, validate)
            assert max(health_took, validate_took) < ANSWER_WITHIN, (health_took, validate_took)
            assert health_reply.json() == {"status": "ok"}
            assert validate_reply.json()["result_info"] == (
                catalogue.CODE_NOT_FOUND.as_result_info())
            bound = TIMEOUT + 2.0
            assert closed_by_peer(slow[0], bound - (time.monotonic() - opened))
            assert all(closed_by_peer(sock, 0.5) for sock in slow[1:] + idle[:10])
    finally:
        server.stop()


def test_connection_beyond_the_limit_waits_for_a_free_slot(tmp_path: Path) -> None:
    """With TFA_CONNECTION_LIMIT=5 taken by idle connections, a new request gets no answer
    for 1 s; once TFA_CHANNEL_TIMEOUT (2 s) has closed the idle ones, it is answered."""
    env = local_environ(tmp_path, TFA_CONNECTION_LIMIT="5", TFA_CHANNEL_TIMEOUT="2")
    server = start_serve(tmp_path, env)
    health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    try:
        with ExitStack() as stack:
            for _ in range(5):
                stack.enter_context(connect(server.base_url))
            waiting = stack.enter_context(connect(server.base_url))
            waiting.sendall(health)
            assert select.select([waiting], [], [], 1.0)[0] == []
            assert read_reply(waiting, timeout=4.0).json() == {"status": "ok"}
    finally:
        server.stop()
