"""`tfa serve` behind a reverse proxy: TFA_TRUSTED_PROXIES and TFA_FORWARDED_HEADER work
through waitress, and a forwarding header from any other peer is still ignored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from raw_http import RawReply, exchange
from tfa_processes import TfaProcess, create_token_json, local_environ, start_serve

from tfa_engine import catalogue

pytestmark = pytest.mark.network

CLIENT = "10.1.2.3"  # the address a proxy on 127.0.0.1 forwards for
HEADERS = {
    "x-forwarded-for": ("X-Forwarded-For", CLIENT),
    "forwarded": ("Forwarded", f"for={CLIENT}"),
}


def request_code(server: TfaProcess, token: str, ref: str, header: tuple[str, str]) -> RawReply:
    """POST /1/2fa from 127.0.0.1 carrying one forwarding header."""
    body = json.dumps({"client_ref": ref, "phone_number": "+447911123456"}).encode()
    head = (
        f"POST /1/2fa HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{header[0]}: {header[1]}\r\nConnection: close\r\n\r\n"
    )
    return exchange(server.base_url, head.encode() + body)


class Proxied:
    """A served process and a token allowed from CLIENT only."""

    def __init__(self, server: TfaProcess, token: str) -> None:
        self.server = server
        self.token = token


def proxied(workdir: Path, **variables: str) -> Iterator[Proxied]:
    env = local_environ(workdir, **variables)
    token = create_token_json(workdir, env, "behind-proxy", "--allow-ip", CLIENT)["token"]
    server = start_serve(workdir, env)
    try:
        yield Proxied(server, token)
    finally:
        server.stop()


@pytest.fixture(scope="module", params=sorted(HEADERS))
def trusted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proxied, tuple[str, str]]]:
    """A server trusting 127.0.0.1 as its proxy, reading the parametrised header."""
    workdir = tmp_path_factory.mktemp(request.param)
    for running in proxied(
        workdir, TFA_TRUSTED_PROXIES="127.0.0.1", TFA_FORWARDED_HEADER=request.param
    ):
        yield running, HEADERS[request.param]


def test_client_behind_a_trusted_proxy_passes_the_allowlist(
    trusted: tuple[Proxied, tuple[str, str]],
) -> None:
    """From the trusted proxy 127.0.0.1, the forwarded address 10.1.2.3 is the client:
    the token allowed from it gets its code sent (201)."""
    running, header = trusted
    reply = request_code(running.server, running.token, "via-proxy", header)
    assert (reply.status, reply.json()["result_info"]) == (201, catalogue.SUCCESS.as_result_info())


def test_address_written_left_of_the_proxys_is_not_believed(
    trusted: tuple[Proxied, tuple[str, str]],
) -> None:
    """The rightmost untrusted address is the client: one the client wrote itself further
    left (10.1.2.3, then the real 198.51.100.7) does not pass the allowlist (-67)."""
    running, (name, _) = trusted
    chain = (CLIENT, "198.51.100.7") if name == "X-Forwarded-For" else (
        f"for={CLIENT}", "for=198.51.100.7")
    reply = request_code(running.server, running.token, "spoofed", (name, ", ".join(chain)))
    assert reply.json()["result_info"] == catalogue.IP_NOT_ALLOWED.as_result_info()


@pytest.mark.parametrize("kind", sorted(HEADERS))
def test_header_from_a_peer_that_is_no_trusted_proxy_is_ignored(tmp_path: Path, kind: str) -> None:
    """With another proxy trusted, 127.0.0.1 is the client whatever its header says: -67."""
    for running in proxied(tmp_path, TFA_TRUSTED_PROXIES="192.0.2.1", TFA_FORWARDED_HEADER=kind):
        reply = request_code(running.server, running.token, "not-believed", HEADERS[kind])
        assert (reply.status, reply.json()["result_info"]) == (
            400, catalogue.IP_NOT_ALLOWED.as_result_info())
