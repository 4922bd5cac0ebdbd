"""SSRF guard for callback URLs: engine.netguard. No real DNS: resolvers are fakes."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tfa_engine import _lookups as lookups
from tfa_engine._netguard import (
    CallbackTarget,
    check_callback_url,
    is_public_address,
    literal_address,
    parse_callback_url,
    resolve_public,
    system_resolver,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700::1111"


def fixed(*answers: str) -> Callable[[str, int], list[str]]:
    """A fake resolver that answers every name with the same addresses."""

    def resolve(host: str, port: int) -> list[str]:
        return list(answers)

    return resolve


def failing(exc: OSError) -> Callable[[str, int], list[str]]:
    """A fake resolver that always raises, as getaddrinfo does without DNS."""

    def resolve(host: str, port: int) -> list[str]:
        raise exc

    return resolve


def never(host: str, port: int) -> list[str]:
    """A fake resolver for IP literals, which must never be looked up."""
    raise AssertionError(f"resolver called for {host!r}")


# --- parse_callback_url -------------------------------------------------------------

WELL_FORMED = [
    pytest.param("http://example.com/cb", ("http", "example.com", 80), id="http-default-port"),
    pytest.param("https://example.com", ("https", "example.com", 443), id="https-no-path"),
    pytest.param("HTTPS://Example.COM:8443/x?y=1#f", ("https", "example.com", 8443), id="case"),
    pytest.param("http://example.com:/cb", ("http", "example.com", 80), id="empty-port"),
    pytest.param("http://example.com:65535/", ("http", "example.com", 65535), id="port-max"),
    pytest.param("http://example.com:1/", ("http", "example.com", 1), id="port-min"),
    pytest.param("http://[2606:4700::1111]/", ("http", PUBLIC_V6, 80), id="ipv6"),
    pytest.param("https://[::1]:9000/", ("https", "::1", 9000), id="ipv6-port"),
    pytest.param("http://bücher.example/", ("http", "xn--bcher-kva.example", 80), id="idna"),
    pytest.param("http://127.1/", ("http", "127.1", 80), id="ipv4-short-form"),
    pytest.param("http://example.com./", ("http", "example.com.", 80), id="root-dot"),
    pytest.param("http://my_host.example/", ("http", "my_host.example", 80), id="underscore"),
]


@pytest.mark.parametrize(("url", "expected"), WELL_FORMED)
def test_parse_well_formed(url: str, expected: tuple[str, str, int]) -> None:
    """Absolute http(s) URLs split into scheme, normalised host and port."""
    assert parse_callback_url(url) == CallbackTarget(*expected, url=url)


ILL_FORMED = [
    pytest.param("", id="empty"),
    pytest.param("ftp://example.com/cb", id="ftp"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("data:text/plain,hi", id="data"),
    pytest.param("file:///etc/passwd", id="file"),
    pytest.param("/callback", id="relative-path"),
    pytest.param("//example.com/cb", id="scheme-relative"),
    pytest.param("example.com/cb", id="no-scheme"),
    pytest.param("http:example.com", id="no-slashes"),
    pytest.param("http://", id="no-host"),
    pytest.param("http:///x", id="empty-host"),
    pytest.param("http://:80/", id="port-no-host"),
    pytest.param("http://user@example.com/", id="userinfo"),
    pytest.param("http://user:pw@example.com/", id="userinfo-password"),
    pytest.param("http://example.com@127.0.0.1/", id="userinfo-confusion"),
    pytest.param("http://evil.com\\@127.0.0.1/", id="backslash-at"),
    pytest.param("http://127.0.0.1\\.evil.com/", id="backslash-host"),
    pytest.param("http://exa mple.com/", id="space-in-host"),
    pytest.param("http://example.com/a b", id="space-in-path"),
    pytest.param(" http://example.com/", id="leading-space"),
    pytest.param("http://example.com/\n", id="newline"),
    pytest.param("http://exam\tple.com/", id="tab"),
    pytest.param("http://example.com/\x00", id="nul"),
    pytest.param("http://example.com/\x7f", id="del"),
    pytest.param("http://exa\u200bmple.com/", id="zero-width-space"),
    pytest.param("http://example.com\u3000/", id="ideographic-space"),
    pytest.param("http://example.com:0/", id="port-0"),
    pytest.param("http://example.com:65536/", id="port-65536"),
    pytest.param("http://example.com:-1/", id="port-negative"),
    pytest.param("http://example.com:+80/", id="port-plus"),
    pytest.param("http://example.com:http/", id="port-name"),
    pytest.param("http://example.com:80:80/", id="port-twice"),
    pytest.param("http://example.com:٨٠/", id="port-arabic-digits"),
    pytest.param("http://::1/", id="ipv6-unbracketed"),
    pytest.param("http://[::1/", id="ipv6-unclosed"),
    pytest.param("http://[::1]x/", id="ipv6-trailing-junk"),
    pytest.param("http://[example.com]/", id="bracketed-name"),
    pytest.param("http://[127.0.0.1]/", id="bracketed-ipv4"),
    pytest.param("http://[v1.fe]/", id="ipvfuture"),
    pytest.param("http://%31%32%37.0.0.1/", id="percent-encoded-host"),
    pytest.param("http://exa!mple.com/", id="odd-host-char"),
    pytest.param("http://256.0.0.1/", id="ipv4-octet-overflow"),
    pytest.param("http://1.2.3.4.5/", id="ipv4-five-parts"),
    pytest.param("http://08.0.0.1/", id="bad-octal"),
    pytest.param("http://4294967296/", id="ipv4-int-overflow"),
    pytest.param("http://example.123/", id="numeric-tld"),
    pytest.param("http://" + "a" * 2048 + ".com/", id="too-long"),
]


@pytest.mark.parametrize("url", ILL_FORMED)
def test_parse_ill_formed(url: str) -> None:
    """Anything but an absolute http(s) URL with a plain host does not parse."""
    assert parse_callback_url(url) is None


@pytest.mark.parametrize("url", ILL_FORMED)
def test_ill_formed_refused_even_when_private_allowed(url: str) -> None:
    """allow_private skips address checks but never the URL syntax check."""
    assert check_callback_url(url, allow_private=True, resolver=fixed(PUBLIC_V4)) is False


def test_length_limit_is_inclusive() -> None:
    """A URL of exactly 2048 characters is accepted; one more is not."""
    base = "http://example.com/"
    assert parse_callback_url(base + "a" * (2048 - len(base))) is not None
    assert parse_callback_url(base + "a" * (2049 - len(base))) is None


# --- literal_address ----------------------------------------------------------------

LITERALS = [
    pytest.param("127.0.0.1", "127.0.0.1", id="dotted"),
    pytest.param("2130706433", "127.0.0.1", id="decimal"),
    pytest.param("0x7f000001", "127.0.0.1", id="hex"),
    pytest.param("0X7F000001", "127.0.0.1", id="hex-upper"),
    pytest.param("0x7f.1", "127.0.0.1", id="hex-short"),
    pytest.param("0177.0.0.1", "127.0.0.1", id="octal"),
    pytest.param("0x7f.0.0.0x1", "127.0.0.1", id="mixed-bases"),
    pytest.param("127.1", "127.0.0.1", id="two-part"),
    pytest.param("127.0.1", "127.0.0.1", id="three-part"),
    pytest.param("127.0.0.1.", "127.0.0.1", id="root-dot"),
    pytest.param("0", "0.0.0.0", id="zero"),
    pytest.param("0x", "0.0.0.0", id="bare-0x"),
    pytest.param("10.1", "10.0.0.1", id="private-short"),
    pytest.param("4294967295", "255.255.255.255", id="max-decimal"),
    pytest.param("::1", "::1", id="ipv6"),
    pytest.param("[::1]", "::1", id="ipv6-bracketed"),
    pytest.param("::ffff:127.0.0.1", "::ffff:7f00:1", id="ipv4-mapped"),
    pytest.param("fe80::1%eth0", "fe80::1%eth0", id="zone"),
    pytest.param("fe80::1%25eth0", "fe80::1%eth0", id="zone-url-encoded"),
]


@pytest.mark.parametrize(("host", "expected"), LITERALS)
def test_literal_address(host: str, expected: str) -> None:
    """Every spelling inet_aton accepts, and IPv6, denotes the expected IP."""
    # Compared as addresses: Python 3.13 prints IPv4-mapped IPv6 in dotted form.
    assert literal_address(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("example.com", id="name"),
        pytest.param("localhost", id="localhost"),
        pytest.param("", id="empty"),
        pytest.param("256.1.1.1", id="octet-overflow"),
        pytest.param("1.16777216", id="tail-overflow"),
        pytest.param("1.2.3.4.5", id="five-parts"),
        pytest.param("1..2", id="empty-part"),
        pytest.param("08.1", id="bad-octal"),
        pytest.param("0x1g", id="bad-hex"),
        pytest.param("9" * 100, id="huge"),
        pytest.param("1.2.3.4x", id="suffix"),
        pytest.param(":::1", id="bad-ipv6"),
    ],
)
def test_not_a_literal(host: str) -> None:
    """Names and malformed numbers are not IP literals."""
    assert literal_address(host) is None


# --- is_public_address --------------------------------------------------------------

NON_PUBLIC = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.255", "224.0.0.1",
    "239.255.255.250", "0.0.0.0", "255.255.255.255", "240.0.0.1", "192.0.2.1",
    "198.51.100.1", "203.0.113.1", "198.18.0.1", "192.0.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1",
    "::ffff:127.0.0.1", "::ffff:8.8.8.8", "::127.0.0.1", "2001:db8::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2002:7f00:1::", "2002:a00:1::",
    "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b:1::8.8.8.8", "fe80::1%eth0",
]
PUBLIC = [PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "2001:4860:4860::8888",
          "64:ff9b::8.8.8.8", "2002:808:808::1"]


@pytest.mark.parametrize("ip", [pytest.param(ip, id=ip) for ip in NON_PUBLIC])
def test_non_public_addresses(ip: str) -> None:
    """Loopback, private, link-local, CGNAT, multicast, reserved and tunnels are refused."""
    assert is_public_address(ipaddress.ip_address(ip)) is False


@pytest.mark.parametrize("ip", [pytest.param(ip, id=ip) for ip in PUBLIC])
def test_public_addresses(ip: str) -> None:
    """Ordinary internet addresses, and NAT64/6to4 of public IPv4, are public."""
    assert is_public_address(ipaddress.ip_address(ip)) is True


# --- check_callback_url / resolve_public --------------------------------------------

REFUSED = [
    pytest.param("http://127.0.0.1/", id="loopback"),
    pytest.param("http://127.0.0.1:8080/admin", id="loopback-port"),
    pytest.param("http://2130706433/", id="loopback-decimal"),
    pytest.param("http://0x7f000001/", id="loopback-hex"),
    pytest.param("http://0x7f.1/", id="loopback-hex-short"),
    pytest.param("http://0177.0.0.1/", id="loopback-octal"),
    pytest.param("http://127.1/", id="loopback-short"),
    pytest.param("http://127.0.0.1./", id="loopback-root-dot"),
    pytest.param("http://１２７．０．０．１/", id="loopback-fullwidth"),
    pytest.param("http://[::1]/", id="ipv6-loopback"),
    pytest.param("http://[::ffff:127.0.0.1]/", id="mapped-dotted"),
    pytest.param("http://[::ffff:7f00:1]/", id="mapped-hex"),
    pytest.param("http://[::ffff:8.8.8.8]/", id="mapped-public"),
    pytest.param("http://127.000.000.001/", id="loopback-zero-padded"),
    pytest.param("http://[0:0:0:0:0:ffff:127.0.0.1]/", id="mapped-long-form"),
    pytest.param("http://localhost/", id="localhost"),
    pytest.param("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", id="localhost-idna-mapped"),
    pytest.param("http://LOCALHOST./", id="localhost-upper-dot"),
    pytest.param("http://foo.localhost/", id="sub-localhost"),
    pytest.param("http://localhost.localdomain/", id="localhost-localdomain"),
    pytest.param("http://a..b/", id="empty-label"),
    pytest.param("http://.example.com/", id="leading-dot"),
    pytest.param("http://10.0.0.1/", id="private-10"),
    pytest.param("http://172.16.0.1/", id="private-172"),
    pytest.param("http://192.168.1.1/", id="private-192"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
    pytest.param("http://[fe80::1]/", id="ipv6-link-local"),
    pytest.param("http://[fe80::1%25eth0]/", id="ipv6-zone"),
    pytest.param("http://100.64.0.1/", id="cgnat"),
    pytest.param("http://224.0.0.1/", id="multicast"),
    pytest.param("http://[ff02::1]/", id="ipv6-multicast"),
    pytest.param("http://0.0.0.0/", id="unspecified"),
    pytest.param("http://0/", id="decimal-zero"),
    pytest.param("http://[::]/", id="ipv6-unspecified"),
    pytest.param("http://255.255.255.255/", id="broadcast"),
    pytest.param("http://[fc00::1]/", id="ula"),
    pytest.param("http://[64:ff9b::7f00:1]/", id="nat64-loopback"),
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused(url: str) -> None:
    """Non-public literals and localhost names are refused, whatever DNS would say."""
    assert check_callback_url(url, allow_private=False, resolver=fixed(PUBLIC_V4)) is False


@pytest.mark.parametrize("url", REFUSED)
def test_resolve_public_refuses(url: str) -> None:
    """The dispatcher gets no address to connect to for a refused destination."""
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=fixed(PUBLIC_V4)) == []


ACCEPTED_LITERALS = [
    pytest.param("http://93.184.216.34/cb", PUBLIC_V4, id="public-v4"),
    pytest.param("https://8.8.8.8:8443/", "8.8.8.8", id="public-v4-port"),
    pytest.param("http://0x08080808/", "8.8.8.8", id="public-v4-hex"),
    pytest.param("http://134744072/", "8.8.8.8", id="public-v4-decimal"),
    pytest.param("http://[2606:4700::1111]/", PUBLIC_V6, id="public-v6"),
]


@pytest.mark.parametrize(("url", "ip"), ACCEPTED_LITERALS)
def test_public_literal_accepted(url: str, ip: str) -> None:
    """A public IP literal is accepted and is the one address to connect to, unresolved."""
    assert check_callback_url(url, allow_private=False, resolver=never) is True
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=never) == [ip]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([PUBLIC_V4], id="public-v4"),
        pytest.param([PUBLIC_V6], id="public-v6"),
        pytest.param([PUBLIC_V4, PUBLIC_V6], id="both"),
    ],
)
def test_name_resolving_public_accepted(answers: list[str]) -> None:
    """A name that resolves to public addresses is accepted and they are returned."""
    url = "https://example.com/cb"
    assert check_callback_url(url, allow_private=False, resolver=fixed(*answers)) is True
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=fixed(*answers)) == answers


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(["127.0.0.1"], id="loopback"),
        pytest.param(["10.0.0.5", "::1"], id="private-and-loopback"),
        pytest.param(["169.254.169.254"], id="metadata"),
        pytest.param(["fe80::1%eth0"], id="link-local-zone"),
        pytest.param(["not-an-ip"], id="garbage"),
    ],
)
def test_name_resolving_only_non_public_refused(answers: list[str]) -> None:
    """A name that resolves only to non-public addresses is refused (e.g. DNS pointing inward)."""
    url = "http://internal.example.com/"
    assert check_callback_url(url, allow_private=False, resolver=fixed(*answers)) is False
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=fixed(*answers)) == []


def test_mixed_answer_accepted_but_filtered() -> None:
    """A mixed answer passes the request check; the dispatcher gets only the public IP."""
    resolver = fixed("127.0.0.1", PUBLIC_V4, "10.0.0.1", "garbage")
    url = "http://mixed.example.com/"
    assert check_callback_url(url, allow_private=False, resolver=resolver) is True
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=resolver) == [PUBLIC_V4]


def test_resolve_public_dedups_and_canonicalises() -> None:
    """Repeated answers are returned once, in resolver order, in canonical form."""
    resolver = fixed(PUBLIC_V4, "2606:4700:0:0::1111", PUBLIC_V4)
    target = parse_callback_url("http://example.com/")
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=resolver) == [PUBLIC_V4, PUBLIC_V6]


def test_resolver_gets_host_and_port() -> None:
    """resolve_public asks the resolver about the normalised host and the effective port."""
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return [PUBLIC_V4]

    target = parse_callback_url("https://Example.COM/cb")
    assert target is not None
    resolve_public(target, allow_private=False, resolver=resolver)
    assert calls == [("example.com", 443)]


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(OSError("no network"), id="oserror"),
        pytest.param(socket.gaierror(socket.EAI_NONAME, "not known"), id="gaierror"),
    ],
)
def test_resolution_failure(exc: OSError) -> None:
    """Without DNS a name passes the request check, but the dispatcher gets no address."""
    url = "http://example.com/cb"
    assert check_callback_url(url, allow_private=False, resolver=failing(exc)) is True
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=False, resolver=failing(exc)) == []


@pytest.fixture
def stalled() -> Iterator[Callable[[str, int], list[str]]]:
    """A fake resolver that answers nothing until the test is over (then it is released)."""
    release = threading.Event()

    def resolve(host: str, port: int) -> list[str]:
        release.wait(30)
        return [PUBLIC_V4]

    yield resolve
    release.set()


def test_slow_resolver_is_refused_at_the_deadline(
    stalled: Callable[[str, int], list[str]],
) -> None:
    """A name the resolver has not answered for within the timeout is refused, on time."""
    started = time.monotonic()
    url = "https://callbacks.example.com/tfa"
    assert check_callback_url(url, allow_private=False, resolver=stalled, timeout=0.2) is False
    assert time.monotonic() - started < 1.0


def test_resolver_answer_within_the_deadline_is_used() -> None:
    """An answer that comes before the deadline is judged as usual (here: loopback, -61)."""

    def slowish(host: str, port: int) -> list[str]:
        time.sleep(0.05)
        return ["127.0.0.1"]

    url = "https://callbacks.example.com/tfa"
    assert check_callback_url(url, allow_private=False, resolver=slowish, timeout=5) is False
    assert check_callback_url(url, allow_private=False, resolver=fixed(PUBLIC_V4), timeout=5)


def test_empty_answer_accepted_at_request_time() -> None:
    """A resolver with no answers is not a refusal; the dispatcher checks again."""
    assert check_callback_url("http://example.com/", allow_private=False, resolver=fixed())


def test_no_resolver_accepts_names_only() -> None:
    """With resolver=None a name is accepted but literals and localhost are still checked."""
    assert check_callback_url("http://example.com/", allow_private=False, resolver=None)
    assert not check_callback_url("http://localhost/", allow_private=False, resolver=None)
    assert not check_callback_url("http://0x7f000001/", allow_private=False, resolver=None)


# --- allow_private ------------------------------------------------------------------

@pytest.mark.parametrize("url", REFUSED)
def test_allow_private_accepts(url: str) -> None:
    """With private destinations allowed, well-formed URLs are accepted whatever the host."""
    assert check_callback_url(url, allow_private=True, resolver=never) is True


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://127.0.0.1/", ["127.0.0.1"], id="loopback"),
        pytest.param("http://2130706433/", ["127.0.0.1"], id="loopback-decimal"),
        pytest.param("http://[::1]/", ["::1"], id="ipv6-loopback"),
        pytest.param("http://10.1/", ["10.0.0.1"], id="private-short"),
    ],
)
def test_allow_private_resolve_literal(url: str, expected: list[str]) -> None:
    """With private destinations allowed, a private literal is the address to connect to."""
    target = parse_callback_url(url)
    assert target is not None
    assert resolve_public(target, allow_private=True, resolver=never) == expected


def test_allow_private_resolve_name() -> None:
    """With private destinations allowed, localhost resolves and every answer is kept."""
    target = parse_callback_url("http://localhost:8080/")
    assert target is not None
    resolver = fixed("127.0.0.1", "::1")
    assert resolve_public(target, allow_private=True, resolver=resolver) == ["127.0.0.1", "::1"]


# --- system_resolver (getaddrinfo faked) --------------------------------------------

def test_system_resolver_dedups(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo's per-socket-type duplicates collapse, keeping resolver order."""
    infos = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (PUBLIC_V6, 443, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, 443)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (PUBLIC_V6, 443, 0, 0)),
    ]
    seen: list[tuple[str, int]] = []

    def fake(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        seen.append((host, port))
        return list(infos)

    monkeypatch.setattr(lookups.socket, "getaddrinfo", fake)
    assert system_resolver("example.com", 443) == [PUBLIC_V6, PUBLIC_V4]
    assert seen == [("example.com", 443)]


def test_system_resolver_unicode_error_is_oserror(monkeypatch: pytest.MonkeyPatch) -> None:
    """An IDNA failure inside getaddrinfo surfaces as OSError, which callers handle."""

    def fake(*args: object, **kwargs: object) -> list[object]:
        raise UnicodeError("label too long")

    monkeypatch.setattr(lookups.socket, "getaddrinfo", fake)
    with pytest.raises(OSError, match="cannot resolve"):
        system_resolver("x" * 64 + ".example", 80)
