"""API tokens and IP allowlists.

Tokens are 128 random bits issued in UUID form (existing Fortytwo SDKs check that shape).
Only their SHA-256 is stored: a token has full entropy, so a slow hash would buy nothing
and cost every request. The lookup is by that digest, then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from dataclasses import KW_ONLY, dataclass, field
from functools import lru_cache

from . import catalogue
from ._token_options import OptionFields
from .catalogue import Status

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TokenRecord(OptionFields):
    """A token as stored: never the token itself, only its digest. Its options
    (:class:`OptionFields`) and all after ``token_hash`` are keyword arguments."""

    id: str
    name: str
    token_hash: str = field(repr=False)
    _: KW_ONLY
    created_at: float = 0.0
    revoked_at: float | None = None
    source: str = "api"
    last_used_at: float | None = None

    @property
    def revoked(self) -> bool:
        """True once revoked; a revoked token authenticates nothing."""
        return self.revoked_at is not None


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: ``token`` is shown this once and never stored."""

    token: str = field(repr=False)
    record: TokenRecord


def new_token() -> str:
    """128 random bits in UUID form."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16)))


def new_token_id() -> str:
    """A public, non-secret handle for listing and revoking a token."""
    return "tok_" + secrets.token_hex(6)


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def digests_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two digests."""
    return hmac.compare_digest(a.encode(), b.encode())


def token_from_header(header: str | None) -> str | None:
    """The token of an ``Authorization: Token <token>`` header.

    None when the header is missing or blank (-51); ``""`` for any other malformed value,
    which no token matches (-50).
    """
    if header is None or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "token":
        return ""
    return value.strip()


def parse_network(entry: str) -> IPNetwork | None:
    """An IP address or CIDR network (host bits allowed) as a network, else None."""
    try:
        return ipaddress.ip_network(str(entry).strip(), strict=False)
    except ValueError:
        return None


def parse_ip(text: str) -> IPAddress | None:
    """``text`` as an IP address, else None. A dual-stack socket reports IPv4 peers as
    ``::ffff:a.b.c.d``: those come back as IPv4, to match IPv4 networks."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=1024)
def parse_allowlist(entries: tuple[str, ...]) -> tuple[IPNetwork, ...] | None:
    """The networks of an allowlist, or None when any entry does not parse."""
    networks = []
    for entry in entries:
        network = parse_network(entry)
        if network is None:
            return None
        networks.append(network)
    return tuple(networks)


def invalid_allowlist_entries(entries: tuple[str, ...]) -> list[str]:
    """The entries that are neither an IP address nor a CIDR network."""
    return [entry for entry in entries if parse_network(entry) is None]


def _client_address(client_ip: str | None) -> IPAddress | None:
    return parse_ip(client_ip.strip()) if client_ip else None


def check_ip(record: TokenRecord, client_ip: str | None) -> Status | None:
    """-66 when the token's allowlist is broken, -67 when the IP is not on it, else None."""
    if not record.allowed_ips:
        return None
    networks = parse_allowlist(record.allowed_ips)
    if networks is None:
        return catalogue.ALLOWLIST_INVALID
    address = _client_address(client_ip)
    if address is None or not any(address in network for network in networks):
        return catalogue.IP_NOT_ALLOWED
    return None
