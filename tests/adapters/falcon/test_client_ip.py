"""Client IP: REMOTE_ADDR unless a trusted proxy vouches, then the rightmost untrusted hop."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tfa_engine import catalogue
from tfa_engine.adapters.client_ip import TrustedProxies, client_ip, parse_address

PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48"])
NONE = TrustedProxies([])


@pytest.mark.parametrize(
    ("remote", "header_value", "header", "trusted", "expected"),
    [
        # No trusted proxy: the peer, whatever the headers say.
        pytest.param("198.51.100.7", "203.0.113.1", "x-forwarded-for", NONE, "198.51.100.7",
                     id="untrusted-peer-ignores-xff"),
        pytest.param("198.51.100.7", "for=203.0.113.1", "forwarded", NONE, "198.51.100.7",
                     id="untrusted-peer-ignores-forwarded"),
        pytest.param("10.0.0.1", "203.0.113.1", "x-forwarded-for", NONE, "10.0.0.1",
                     id="private-peer-not-trusted-by-default"),
        # Peer trusted: walk from the right.
        pytest.param("10.0.0.1", None, "x-forwarded-for", PROXIES, "10.0.0.1",
                     id="trusted-peer-without-header"),
        pytest.param("10.0.0.1", "203.0.113.1", "x-forwarded-for", PROXIES, "203.0.113.1",
                     id="one-hop"),
        pytest.param("10.0.0.1", "203.0.113.1, 10.0.0.2", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="two-trusted-hops"),
        pytest.param("10.0.0.1", "192.0.2.66, 203.0.113.1", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="spoofed-leftmost-ignored"),
        pytest.param("10.0.0.1", "192.0.2.66,203.0.113.1,10.9.9.9", "x-forwarded-for",
                     PROXIES, "203.0.113.1", id="spoofed-left-trusted-right"),
        pytest.param("10.0.0.1", "10.0.0.3, 10.0.0.2", "x-forwarded-for", PROXIES, "10.0.0.3",
                     id="all-trusted-gives-leftmost"),
        pytest.param("10.0.0.1", "203.0.113.1:51234", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="xff-v4-with-port"),
        pytest.param("10.0.0.1", "2001:db8::1", "x-forwarded-for", PROXIES, "2001:db8::1",
                     id="xff-bare-v6"),
        pytest.param("10.0.0.1", "[2001:db8::1]:443", "x-forwarded-for", PROXIES,
                     "2001:db8::1", id="xff-bracketed-v6-with-port"),
        pytest.param("10.0.0.1", "::ffff:203.0.113.1", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="xff-ipv4-mapped"),
        pytest.param("::ffff:10.0.0.1", "203.0.113.1", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="dual-stack-peer-is-trusted"),
        pytest.param("2001:db8:ffff::5", "203.0.113.1", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="v6-proxy-network"),
        pytest.param("10.0.0.1", "203.0.113.1", "x-real-ip", PROXIES, "203.0.113.1",
                     id="other-header-name-is-a-list"),
        # Garbage: the chain ends there; nothing left of it is reached.
        pytest.param("10.0.0.1", "203.0.113.1, unknown", "x-forwarded-for", PROXIES,
                     "10.0.0.1", id="garbage-next-to-peer"),
        pytest.param("10.0.0.1", "203.0.113.1, nonsense, 10.0.0.2", "x-forwarded-for", PROXIES,
                     "10.0.0.2", id="garbage-after-trusted-hop"),
        pytest.param("10.0.0.1", "nonsense, 203.0.113.1", "x-forwarded-for", PROXIES,
                     "203.0.113.1", id="garbage-left-of-client-is-never-reached"),
        pytest.param("10.0.0.1", "203.0.113.1,", "x-forwarded-for", PROXIES, "10.0.0.1",
                     id="empty-entry"),
        pytest.param("10.0.0.1", "١٢٣.0.113.1", "x-forwarded-for", PROXIES, "10.0.0.1",
                     id="non-ascii-digits"),
        pytest.param("10.0.0.1", "203.0.113.1:99999999", "x-forwarded-for", PROXIES,
                     "10.0.0.1", id="bad-port"),
        # RFC 7239.
        pytest.param("10.0.0.1", "for=203.0.113.1", "forwarded", PROXIES, "203.0.113.1",
                     id="forwarded-simple"),
        pytest.param("10.0.0.1", 'For="203.0.113.1:8080";proto=https', "forwarded", PROXIES,
                     "203.0.113.1", id="forwarded-quoted-port-and-case"),
        pytest.param("10.0.0.1", 'for="[2001:db8::1]:443"', "forwarded", PROXIES,
                     "2001:db8::1", id="forwarded-v6"),
        pytest.param("10.0.0.1", "for=192.0.2.66, for=203.0.113.1;by=10.0.0.1", "forwarded",
                     PROXIES, "203.0.113.1", id="forwarded-spoofed-leftmost"),
        pytest.param("10.0.0.1", "for=203.0.113.1, for=10.0.0.2", "Forwarded", PROXIES,
                     "203.0.113.1", id="forwarded-joined-headers"),
        pytest.param("10.0.0.1", 'proto=https;by="x,y";for=203.0.113.1', "forwarded", PROXIES,
                     "203.0.113.1", id="forwarded-comma-inside-quotes"),
        pytest.param("10.0.0.1", "for=203.0.113.1, for=_hidden", "forwarded", PROXIES,
                     "10.0.0.1", id="forwarded-obfuscated-node"),
        pytest.param("10.0.0.1", "for=203.0.113.1, proto=https", "forwarded", PROXIES,
                     "10.0.0.1", id="forwarded-element-without-for"),
        pytest.param("10.0.0.1", 'for="203.0.113.1', "forwarded", PROXIES, "10.0.0.1",
                     id="forwarded-unterminated-quote"),
        pytest.param("10.0.0.1", "203.0.113.1", "forwarded", PROXIES, "10.0.0.1",
                     id="forwarded-mode-ignores-xff-syntax"),
        # No usable peer.
        pytest.param(None, "203.0.113.1", "x-forwarded-for", PROXIES, None, id="no-peer"),
        pytest.param("", "203.0.113.1", "x-forwarded-for", PROXIES, None, id="empty-peer"),
        pytest.param("unix:/run/tfa.sock", None, "x-forwarded-for", PROXIES, None,
                     id="non-ip-peer"),
    ],
)
def test_client_ip(
    remote: str | None, header_value: str | None, header: str, trusted: TrustedProxies,
    expected: str | None,
) -> None:
    """client_ip() picks the expected address."""
    assert client_ip(remote, header_value, trusted=trusted, header=header) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1.2.3.4", "1.2.3.4", id="v4"),
        pytest.param(" 1.2.3.4 ", "1.2.3.4", id="spaces"),
        pytest.param("[::1]", "::1", id="bracketed-v6"),
        pytest.param("[1.2.3.4]", None, id="bracketed-v4"),
        pytest.param("[::1]x", None, id="junk-after-bracket"),
        pytest.param("::1:80", "::1:80", id="bare-v6-is-never-split"),
        pytest.param("1.2.3.4:", None, id="empty-port"),
        pytest.param("localhost", None, id="name"),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    """parse_address() reads the spellings proxies write, and nothing else."""
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


def test_trusted_proxies_names_a_bad_entry() -> None:
    """A bad entry raises ValueError naming it."""
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300'")):
        TrustedProxies(["10.0.0.1", "10.0.0.300"])


def test_trusted_proxies_reads_a_comma_separated_setting() -> None:
    """One string is read as the comma-separated list of TFA_TRUSTED_PROXIES."""
    proxies = TrustedProxies("10.0.0.1, 2001:db8::/32,")
    assert "10.0.0.1" in proxies and "2001:db8::7" in proxies and "10.0.0.2" not in proxies


def _fenced_token(api: Any, allowed: str) -> str:
    token: str = api.engine.create_token("fenced", allowed_ips=[allowed]).token
    return token


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Forwarded-For": "203.0.113.7"}, id="x-forwarded-for"),
        pytest.param({"Forwarded": "for=203.0.113.7"}, id="forwarded"),
        pytest.param({"X-Real-IP": "203.0.113.7"}, id="x-real-ip"),
    ],
)
def test_allowlist_cannot_be_bypassed_without_a_trusted_proxy(api: Any, headers: Any) -> None:
    """With no trusted proxy, a forwarding header naming an allowed IP changes nothing."""
    token = _fenced_token(api, "203.0.113.7")
    result = api.request(token=token, headers=headers, remote_addr="198.51.100.1")
    assert result.json["result_info"]["status_code"] == catalogue.IP_NOT_ALLOWED.code


def test_trusted_proxy_passes_on_the_client_address(make_api: Any) -> None:
    """Behind a trusted proxy the forwarded address is checked against the allowlist."""
    api = make_api(trusted_proxies=["10.0.0.1"])
    token = _fenced_token(api, "203.0.113.7")
    result = api.request(
        token=token, headers={"X-Forwarded-For": "203.0.113.7"}, remote_addr="10.0.0.1"
    )
    assert result.status_code == 201


def test_spoofed_leftmost_address_is_ignored(make_api: Any) -> None:
    """A client's own X-Forwarded-For entry left of the proxy's is not believed."""
    api = make_api(trusted_proxies=["10.0.0.1"])
    token = _fenced_token(api, "203.0.113.7")
    result = api.request(
        token=token,
        headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.1"},
        remote_addr="10.0.0.1",
    )
    assert result.json["result_info"]["status_code"] == catalogue.IP_NOT_ALLOWED.code


def test_only_the_configured_header_is_read(make_api: Any) -> None:
    """With forwarded_header="forwarded", an X-Forwarded-For from the client is ignored."""
    api = make_api(trusted_proxies=["10.0.0.1"], forwarded_header="forwarded")
    token = _fenced_token(api, "203.0.113.7")
    spoofed = api.request(
        token=token,
        headers={"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=198.51.100.1"},
        remote_addr="10.0.0.1",
    )
    honest = api.request(
        "ref-2", token=token, headers={"Forwarded": 'for="203.0.113.7:4711"'},
        remote_addr="10.0.0.1",
    )
    assert (spoofed.status_code, honest.status_code) == (400, 201)


def test_validate_uses_the_same_client_address(make_api: Any) -> None:
    """The validate call checks the allowlist against the same forwarded address."""
    api = make_api(trusted_proxies=["10.0.0.1"])
    token = _fenced_token(api, "2001:db8::/32")
    hop = {"X-Forwarded-For": "[2001:db8::5]:443"}
    api.send("v6", token=token, headers=hop, remote_addr="10.0.0.1")
    outside = api.validate("v6", "000000", token=token, remote_addr="198.51.100.1")
    assert outside.json["result_info"]["status_code"] == catalogue.IP_NOT_ALLOWED.code
