"""SSRF guard for client-supplied ``callback_url`` values.

Two checks use it. At request time :func:`check_callback_url` refuses URLs whose
host is, or resolves only to, a non-public address (status -61). At delivery
time :func:`resolve_public` gives the addresses the dispatcher may connect to;
the dispatcher must connect to one of *those* addresses, not re-resolve the name,
so a DNS answer that changes between check and connect (rebinding) cannot
redirect the POST to an internal host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._lookups import RESOLVE_TIMEOUT, LookupTimeout, resolve_within
from ._lookups import Resolver as Resolver  # re-exported: callers name them netguard.*
from ._lookups import system_resolver as system_resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
# Letters, digits, '-', '.', '_' only: anything else in a host ('%', '\\', '!', ...)
# is read differently by different URL parsers, which is how SSRF filters get bypassed.
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_DEC = frozenset("0123456789")
_OCT = frozenset("01234567")
_HEX = frozenset("0123456789abcdef")
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

# Listed explicitly rather than trusting is_global alone: its answer has changed
# between Python releases (and it calls multicast 224.0.0.1 global).
_BLOCKED_V4 = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))
_BLOCKED_V6 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/8",  # unspecified, loopback, IPv4-compatible, IPv4-mapped, SIIT
    "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",  # 2001::/32 is Teredo
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class CallbackTarget:
    """A syntactically valid callback URL, split into what the dispatcher needs."""

    scheme: str  # "http" | "https"
    host: str  # lower-cased, IPv6 without brackets, IDNA-encoded if it was non-ASCII
    port: int  # explicit, else 80/443
    url: str  # the original URL


def parse_callback_url(url: str) -> CallbackTarget | None:
    """Split an absolute http(s) URL with a host; None for anything else."""
    if not url or len(url) > MAX_URL_LENGTH:
        return None
    # Whitespace and control characters are silently stripped by some parsers;
    # backslashes are read as '/' by browsers (WHATWG) but not by urllib.
    if "\\" in url or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # bad brackets, or NFKC turning a character into '/', '@', ...
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        return None  # '@' means userinfo, the classic "http://good@evil/" confusion
    netloc = parts.netloc
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or ":" not in host or literal_address(host) is None:
            return None  # brackets hold IPv6 only; IPvFuture is refused
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
        host = host.lower()
    else:
        written, _, port_text = netloc.partition(":")
        name = _normalise_name(written)
        if name is None:
            return None
        host = name
    if port_text == "":  # RFC 3986 allows "host:" and means the default port
        port = DEFAULT_PORTS[parts.scheme]
    elif set(port_text) <= _DEC and len(port_text) <= 5 and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        return None
    return CallbackTarget(parts.scheme, host, port, url)


def _normalise_name(host: str) -> str | None:
    """A non-bracketed host, IDNA-encoded and lower-cased, or None if unusable."""
    if not host.isascii():
        try:  # IDNA also maps full-width digits and dots, so "１２７．０．０．１" -> 127.0.0.1
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    if not _HOST_CHARS.fullmatch(host):
        return None
    # As in the WHATWG URL standard, a host whose last label is a number must be a
    # valid IPv4 literal: "256.0.0.1" or "08.1" is an error, never a DNS name.
    last = (host[:-1] if host.endswith(".") else host).rpartition(".")[2]
    numeric = set(last) <= _DEC or (last.startswith("0x") and set(last[2:]) <= _HEX)
    if last and numeric and _parse_ipv4(host) is None:
        return None
    return host


def literal_address(host: str) -> IPAddress | None:
    """The IP a host denotes if it is an IP literal in any spelling, else None.

    IPv4 follows inet_aton, which is what libc resolvers and curl accept: decimal
    ``2130706433``, hex ``0x7f000001``, octal ``0177.0.0.1``, short ``127.1``, and a
    trailing root dot. IPv6 may carry brackets and a zone id (kept as ``scope_id``).
    """
    text = host.lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" not in text:
        return _parse_ipv4(text)
    # URLs write the zone's '%' as "%25" (RFC 6874); try that reading first.
    for candidate in (text.replace("%25", "%", 1), text):
        try:
            return ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
    return None


def _ipv4_number(part: str) -> int | None:
    """One inet_aton component: 0x-hex, 0-prefixed octal, or decimal."""
    if part.startswith("0x"):
        digits, base, allowed = part[2:], 16, _HEX
        if not digits:
            return 0  # inet_aton and WHATWG both read a bare "0x" as zero
    elif len(part) > 1 and part.startswith("0"):
        digits, base, allowed = part[1:], 8, _OCT
    else:
        digits, base, allowed = part, 10, _DEC
    if not digits or not set(digits) <= allowed or len(digits) > 40:
        return None  # the length cap keeps int() away from huge inputs
    return int(digits, base)


def _parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """Parse like inet_aton: 1-4 parts, the last one filling the remaining bytes."""
    if text.endswith("."):
        text = text[:-1]
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_ipv4_number(p) for p in parts]
    if any(v is None for v in values):
        return None
    *head, last = [v for v in values if v is not None]
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, byte in enumerate(head):
        value |= byte << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def is_public_address(ip: IPAddress) -> bool:
    """True only for addresses on the public internet that a callback may target."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None or ip.ipv4_mapped is not None:
            return False  # a zone means on-link; mapped forms dodge IPv4 checks
        if ip in _NAT64:  # a NAT64 gateway forwards to the embedded IPv4 address
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:  # a 6to4 relay forwards to the embedded IPv4 address
            # Judged by that address alone: Python 3.13 stopped calling 2002::/16 global.
            return is_public_address(ip.sixtofour)
        if ip.is_site_local or any(ip in net for net in _BLOCKED_V6):
            return False
    elif any(ip in net for net in _BLOCKED_V4):
        return False
    special = (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
               or ip.is_unspecified or ip.is_reserved)
    return ip.is_global and not special


def _is_local_name(host: str) -> bool:
    """Names that mean this machine without asking DNS (RFC 6761), or are malformed."""
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    return "" in labels or name in _LOCAL_NAMES or labels[-1] == "localhost"


def _resolved(
    target: CallbackTarget, resolver: Resolver, timeout: float | None = None
) -> list[IPAddress | None]:
    """Resolver answers parsed strictly; None marks an answer that is not an IP.
    With a ``timeout``, :class:`LookupTimeout` when the resolver takes longer."""
    if timeout is None:
        texts = resolver(target.host, target.port)
    else:
        texts = resolve_within(resolver, target.host, target.port, timeout)
    out: list[IPAddress | None] = []
    for text in texts:
        try:
            out.append(ipaddress.ip_address(text))
        except ValueError:
            out.append(None)
    return out


def resolve_public(
    target: CallbackTarget, *, allow_private: bool, resolver: Resolver = system_resolver
) -> list[str]:
    """The addresses the dispatcher may connect to; [] when none may be contacted."""
    literal = literal_address(target.host)
    if literal is not None:
        return [str(literal)] if allow_private or is_public_address(literal) else []
    if _is_local_name(target.host) and not allow_private:
        return []
    try:
        answers = _resolved(target, resolver)
    except OSError:  # includes socket.gaierror
        return []
    allowed = (ip for ip in answers if ip is not None and (allow_private or is_public_address(ip)))
    return list(dict.fromkeys(str(ip) for ip in allowed))


def check_callback_url(
    url: str,
    *,
    allow_private: bool,
    resolver: Resolver | None = system_resolver,
    timeout: float = RESOLVE_TIMEOUT,
) -> bool:
    """Request-time check: False means refuse with status -61.

    A name that does not resolve now is accepted: the dispatcher checks again (with
    :func:`resolve_public`) before it connects. One whose lookup takes longer than
    ``timeout`` seconds is refused: the request cannot wait, nor take the host on trust.
    """
    target = parse_callback_url(url)
    if target is None:
        return False
    if allow_private:
        return True
    literal = literal_address(target.host)
    if literal is not None:
        return is_public_address(literal)
    if _is_local_name(target.host):
        return False
    if resolver is None:
        return True
    try:
        answers = _resolved(target, resolver, timeout)
    except LookupTimeout:
        return False
    except OSError:
        return True
    # Refuse only when every answer is non-public (an unparseable answer counts as
    # non-public); a mixed answer is accepted and resolve_public filters it later.
    return not answers or any(ip is not None and is_public_address(ip) for ip in answers)
