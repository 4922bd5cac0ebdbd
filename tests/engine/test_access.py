"""Tokens (issue, digest, header parsing) and IP allowlists."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from tfa_engine import catalogue
from tfa_engine._access import (
    TokenRecord,
    check_ip,
    digests_equal,
    invalid_allowlist_entries,
    new_token,
    new_token_id,
    parse_allowlist,
    token_digest,
    token_from_header,
)
from tfa_engine.catalogue import Status

UUID_SHAPE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, None, id="missing"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param("Token abc", "abc", id="token"),
        pytest.param("token abc", "abc", id="lower-case-scheme"),
        pytest.param("TOKEN abc", "abc", id="upper-case-scheme"),
        pytest.param("  Token   abc  ", "abc", id="extra-spaces"),
        pytest.param("Bearer abc", "", id="bearer"),
        pytest.param("Basic dXNlcjpwYXNz", "", id="basic"),
        pytest.param("Token", "", id="scheme-only"),
        pytest.param("Token ", "", id="scheme-and-space"),
        pytest.param("Tokenabc", "", id="no-space"),
        pytest.param("abc", "", id="bare-token"),
    ],
)
def test_token_from_header(header: str | None, expected: str | None) -> None:
    """None for a missing or blank header (-51); "" for a malformed one (-50)."""
    assert token_from_header(header) == expected


def test_new_token_is_uuid_shaped() -> None:
    """A token is a lower-case hexadecimal UUID string."""
    token = new_token()
    assert UUID_SHAPE.fullmatch(token)
    assert str(uuid.UUID(token)) == token


def test_new_tokens_are_random() -> None:
    """A thousand tokens are all different."""
    assert len({new_token() for _ in range(1000)}) == 1000


def test_new_token_id_is_a_public_handle() -> None:
    """A token id is "tok_" and 12 hex digits, different each time."""
    ids = {new_token_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"tok_[0-9a-f]{12}", token_id) for token_id in ids)


def test_token_digest_is_sha256_hex() -> None:
    """A token is stored as the hex SHA-256 of its UTF-8 bytes."""
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()


def test_token_digest_survives_lone_surrogates() -> None:
    """A header that decoded to a lone surrogate still digests (and matches nothing)."""
    assert len(token_digest("\udcff")) == 64


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [("ab", "ab", True), ("ab", "ac", False), ("ab", "abc", False), ("", "", True)],
)
def test_digests_equal(a: str, b: str, equal: bool) -> None:
    """Digests compare equal only when identical."""
    assert digests_equal(a, b) is equal


def test_token_record_repr_hides_the_digest() -> None:
    """A token record's repr does not show its digest."""
    record = TokenRecord(id="tok_1", name="app", token_hash="secret-digest")
    assert "secret-digest" not in repr(record)


def test_token_record_revoked() -> None:
    """A record is revoked exactly when it has a revocation time."""
    assert not TokenRecord(id="t", name="n", token_hash="h").revoked
    assert TokenRecord(id="t", name="n", token_hash="h", revoked_at=1.0).revoked


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param((), (), id="empty"),
        pytest.param(("192.0.2.7",), ("192.0.2.7/32",), id="ipv4-address"),
        pytest.param(("10.0.0.0/8",), ("10.0.0.0/8",), id="ipv4-cidr"),
        pytest.param(("10.1.2.3/8",), ("10.0.0.0/8",), id="host-bits-set"),
        pytest.param((" 10.0.0.0/8 ",), ("10.0.0.0/8",), id="spaces"),
        pytest.param(("2001:db8::1",), ("2001:db8::1/128",), id="ipv6-address"),
        pytest.param(("2001:db8::/32",), ("2001:db8::/32",), id="ipv6-cidr"),
        pytest.param(("10.0.0.0/8", "bogus"), None, id="one-bad-entry"),
        pytest.param(("10.0.0.0/33",), None, id="prefix-too-long"),
        pytest.param(("256.0.0.1",), None, id="octet-too-large"),
        pytest.param(("",), None, id="empty-entry"),
    ],
)
def test_parse_allowlist(entries: tuple[str, ...], expected: tuple[str, ...] | None) -> None:
    """An allowlist parses to networks, or to None when any entry is malformed."""
    networks = parse_allowlist(entries)
    assert (None if networks is None else tuple(str(n) for n in networks)) == expected


def test_invalid_allowlist_entries_names_the_bad_ones() -> None:
    """Only the malformed entries are reported, in order."""
    entries = ("10.0.0.0/8", "bogus", "2001:db8::/32", "1.2.3.4/40")
    assert invalid_allowlist_entries(entries) == ["bogus", "1.2.3.4/40"]


@pytest.mark.parametrize(
    ("allowed", "client_ip", "expected"),
    [
        pytest.param((), None, None, id="empty-any-unknown"),
        pytest.param((), "garbage", None, id="empty-any-garbage"),
        pytest.param(("10.0.0.0/8",), "10.1.2.3", None, id="inside"),
        pytest.param(("10.0.0.0/8",), "11.0.0.1", catalogue.IP_NOT_ALLOWED, id="outside"),
        pytest.param(("10.0.0.0/8",), "::ffff:10.0.0.5", None, id="ipv4-mapped"),
        pytest.param(
            ("10.0.0.0/8",), "::ffff:11.0.0.5", catalogue.IP_NOT_ALLOWED, id="mapped-outside"
        ),
        pytest.param(("10.0.0.0/8",), None, catalogue.IP_NOT_ALLOWED, id="none"),
        pytest.param(("10.0.0.0/8",), "", catalogue.IP_NOT_ALLOWED, id="empty-ip"),
        pytest.param(("10.0.0.0/8",), "garbage", catalogue.IP_NOT_ALLOWED, id="garbage"),
        pytest.param(("2001:db8::/32",), "2001:db8:1::1", None, id="ipv6-inside"),
        pytest.param(
            ("2001:db8::/32",), "2001:db9::1", catalogue.IP_NOT_ALLOWED, id="ipv6-outside"
        ),
        pytest.param(("192.0.2.7",), "192.0.2.7", None, id="single-address"),
        pytest.param(("192.0.2.7",), " 192.0.2.7 ", None, id="client-ip-spaces"),
        pytest.param(
            ("10.0.0.0/8", "bogus"), "10.0.0.1", catalogue.ALLOWLIST_INVALID, id="malformed"
        ),
        pytest.param(("bogus",), None, catalogue.ALLOWLIST_INVALID, id="malformed-before-ip"),
    ],
)
def test_check_ip(allowed: tuple[str, ...], client_ip: str | None, expected: Status | None) -> None:
    """-66 for a malformed allowlist, -67 outside it, None when the IP may call."""
    record = TokenRecord(id="tok_1", name="app", token_hash="h", allowed_ips=allowed)
    assert check_ip(record, client_ip) is expected
