"""Who is the client? The socket peer, unless that peer is a proxy we trust.

Framework-free: the Falcon app and the WSGI middleware both call :func:`client_ip`.

The rules (as werkzeug's ``ProxyFix`` applies them, and for the reasons below):

* ``REMOTE_ADDR`` is the client unless it is one of the configured trusted proxies.
  With no trusted proxy configured, forwarding headers are never read, so a client
  cannot talk its way past a token's IP allowlist.
* Behind a trusted proxy, exactly one header is read (``X-Forwarded-For`` by default,
  or RFC 7239 ``Forwarded``). Reading both would let a client send the one the proxy
  does not overwrite.
* That header is walked from the right: each proxy appends the address it received the
  request from, so the rightmost entries are the ones our own proxies wrote. The first
  address that is not a trusted proxy is the client; anything to its left was written
  by the client itself and is ignored.
* If every address is a trusted proxy, the leftmost one is the client.
* An entry that is not an IP address (``unknown``, an obfuscated ``_hidden`` node, a
  typo, a ``Forwarded`` element without ``for=``) ends the chain there: the answer is
  what it would be had the header started just right of that entry, i.e. the nearest
  address a trusted proxy vouched for (possibly the peer itself). The untrusted value
  is never guessed at, and nothing left of it is ever reached.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator

from tfa_engine.config import IPAddress, IPNetwork, parse_ip, parse_network

X_FORWARDED_FOR = "x-forwarded-for"
FORWARDED = "forwarded"


class TrustedProxies:
    """A set of proxy addresses (IPs or CIDR networks, IPv4 or IPv6).

    ``entries`` may also be one comma-separated string, as in ``TFA_TRUSTED_PROXIES``.
    Raises ValueError naming the first entry that is neither an address nor a network.
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        if isinstance(entries, str):
            entries = entries.split(",")
        networks: list[IPNetwork] = []
        for entry in entries:
            if not str(entry).strip():
                continue  # a trailing comma in a setting is not an error
            network = parse_network(entry)
            if network is None:
                raise ValueError(f"trusted proxy {entry!r} is not an IP address or CIDR network")
            networks.append(network)
        self.networks: tuple[IPNetwork, ...] = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            address = parse_address(address)
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return False
        return any(address in network for network in self.networks)

    def __repr__(self) -> str:
        return f"TrustedProxies({[str(network) for network in self.networks]!r})"


# Parsed addresses kept: the same peers and proxies come again and again, and parsing one
# with ipaddress costs more than the rest of a request's access-log line. Bounded, so that
# addresses that never come again only push older ones out.
PARSED_ADDRESSES = 4096


@functools.lru_cache(maxsize=PARSED_ADDRESSES)
def parse_address(text: str) -> IPAddress | None:
    """An address as proxies and servers write it, or None.

    Accepts ``1.2.3.4``, ``1.2.3.4:8080``, ``2001:db8::1``, ``[2001:db8::1]`` and
    ``[2001:db8::1]:443``. IPv4-mapped IPv6 (``::ffff:1.2.3.4``, what a dual-stack socket
    reports) comes back as IPv4, so it matches IPv4 networks. The answers for the last
    :data:`PARSED_ADDRESSES` texts are kept (addresses are immutable).
    """
    text = text.strip()
    if text.startswith("["):
        inner, bracket, rest = text[1:].partition("]")
        if not bracket or ":" not in inner:
            return None  # brackets hold IPv6 only
        if rest and not (rest.startswith(":") and _is_port(rest[1:])):
            return None
        return _ip(inner)
    address = _ip(text)
    if address is None and text.count(":") == 1:
        host, _, port = text.partition(":")
        address = _ip(host) if _is_port(port) else None
        if isinstance(address, ipaddress.IPv6Address):
            return None
    return address


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def _ip(text: str) -> IPAddress | None:
    # ipaddress rejects non-ASCII digits already; the check keeps that explicit (and
    # keeps odd characters out of IPv6 scope ids from headers).
    if not text or not text.isascii():
        return None
    return parse_ip(text)


def client_ip(
    remote_addr: str | None,
    forwarded_for: str | None,
    *,
    trusted: TrustedProxies,
    header: str = X_FORWARDED_FOR,
) -> str | None:
    """The client's IP address, or None when no address can be established.

    ``remote_addr`` is the socket peer (WSGI ``REMOTE_ADDR``); ``forwarded_for`` is the
    value of the one configured ``header`` (several header lines joined with ``,``, as
    WSGI servers do). ``header`` is ``"forwarded"`` for RFC 7239 syntax; any other name
    is read as an ``X-Forwarded-For`` style list.
    """
    peer = parse_address(remote_addr) if remote_addr else None
    if peer is None:
        return None
    if peer not in trusted or not forwarded_for:
        return str(peer)
    if header.lower() == FORWARDED:
        nodes = list(_forwarded_nodes(forwarded_for))
    else:
        nodes = list(_xff_nodes(forwarded_for))
    candidate = peer
    for node in reversed(nodes):
        address = parse_address(node) if node is not None else None
        if address is None:
            break  # see the module docstring: the chain ends at the first bad entry
        candidate = address
        if address not in trusted:
            break
    return str(candidate)


def _xff_nodes(value: str) -> Iterator[str | None]:
    for part in value.split(","):
        yield part.strip()


def _forwarded_nodes(value: str) -> Iterator[str | None]:
    """The ``for=`` value of each element of a ``Forwarded`` header (None if absent)."""
    for element in _split_unquoted(value, ","):
        node: str | None = None
        for pair in _split_unquoted(element, ";"):
            name, equals, raw = pair.partition("=")
            if equals and name.strip().lower() == "for":
                node = _unquote(raw.strip())
                break
        yield node


def _split_unquoted(text: str, separator: str) -> Iterator[str]:
    """Split on ``separator`` outside RFC 7230 quoted-strings."""
    start, quoted, escaped = 0, False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _unquote(value: str) -> str | None:
    if not value.startswith('"'):
        return value
    if len(value) < 2 or not value.endswith('"'):
        return None  # an unterminated quoted-string is garbage, not an address
    inner, out, escaped = value[1:-1], [], False
    for char in inner:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)
