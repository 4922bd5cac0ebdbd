"""The storage contract, run against every backend through the parametrized ``store``."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from store_records import (
    DE,
    FR,
    NOW,
    TOKEN_ID,
    TTL,
    UK,
    WINDOW,
    live_code,
    new_code,
    token_record,
)

from tfa_engine._access import TokenRecord
from tfa_engine.store import (
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    SQLiteStore,
    Store,
    StoreError,
)
from tfa_engine.store.sqlite import MIGRATIONS


def state_of(store: Store, client_ref: str, token_id: str = TOKEN_ID) -> str | None:
    """The stored state of a code, or None when it is gone."""
    record = store.find_code(token_id, client_ref)
    return None if record is None else record.state


# -- tokens ------------------------------------------------------------------------------


def test_added_token_is_found_by_digest(store: Store) -> None:
    """A token added is found again by its digest with every field intact."""
    record = token_record(
        allowed_ips=("10.0.0.0/8", "::1"),
        sender_id="Shop",
        code_ttl=120,
        max_attempts=3,
        source="api",
    )
    store.add_token(record)
    assert store.token_by_digest(record.token_hash) == record


def test_unknown_digest_finds_nothing(store: Store) -> None:
    """A digest nobody stored finds no token."""
    store.add_token(token_record())
    assert store.token_by_digest("digest-of-nobody") is None


@pytest.mark.parametrize(
    "duplicate",
    [
        pytest.param(token_record("tok_a", token_hash="other-digest"), id="same-id"),
        pytest.param(token_record("tok_b", token_hash="digest-of-tok_a"), id="same-digest"),
    ],
)
def test_add_token_refuses_a_duplicate(store: Store, duplicate: TokenRecord) -> None:
    """Adding a token whose id or digest exists raises DuplicateToken."""
    store.add_token(token_record("tok_a"))
    with pytest.raises(DuplicateToken):
        store.add_token(duplicate)


def test_put_token_inserts_a_new_token(store: Store) -> None:
    """put_token stores a token that did not exist."""
    record = token_record("cfg_1", source="config")
    store.put_token(record)
    assert store.token_by_digest(record.token_hash) == record


def test_put_token_replaces_the_same_id(store: Store) -> None:
    """put_token with an existing id replaces that token (new digest, new settings)."""
    store.put_token(token_record("cfg_1", source="config"))
    replacement = token_record("cfg_1", token_hash="new-digest", sender_id="New", source="config")
    store.put_token(replacement)
    assert store.token_by_digest("digest-of-cfg_1") is None
    assert store.token_by_digest("new-digest") == replacement
    assert store.list_tokens() == [replacement]


def test_put_token_refuses_another_tokens_digest(store: Store) -> None:
    """put_token cannot give a token the digest another token holds."""
    store.add_token(token_record("tok_a"))
    with pytest.raises(DuplicateToken):
        store.put_token(token_record("cfg_1", token_hash="digest-of-tok_a"))


def test_list_tokens_oldest_first(store: Store) -> None:
    """Tokens are listed by creation time, ties by id."""
    store.add_token(token_record("tok_c", created_at=NOW + 2))
    store.add_token(token_record("tok_b", created_at=NOW))
    store.add_token(token_record("tok_a", created_at=NOW))
    assert [t.id for t in store.list_tokens()] == ["tok_a", "tok_b", "tok_c"]


def test_list_tokens_empty(store: Store) -> None:
    """A fresh store lists no tokens."""
    assert store.list_tokens() == []


def test_revoke_token_records_when(store: Store) -> None:
    """Revoking marks the token revoked at that time; it is still found by digest."""
    store.add_token(token_record())
    assert store.revoke_token("tok_a", NOW + 5) is True
    found = store.token_by_digest("digest-of-tok_a")
    assert found is not None
    assert found.revoked
    assert found.revoked_at == NOW + 5


def test_revoke_token_twice_is_false(store: Store) -> None:
    """A second revocation reports False and keeps the first time."""
    store.add_token(token_record())
    store.revoke_token("tok_a", NOW)
    assert store.revoke_token("tok_a", NOW + 9) is False
    found = store.token_by_digest("digest-of-tok_a")
    assert found is not None and found.revoked_at == NOW


def test_revoke_unknown_token_is_false(store: Store) -> None:
    """Revoking an id nobody stored reports False."""
    assert store.revoke_token("tok_nobody", NOW) is False


# -- inserting codes ---------------------------------------------------------------------


def test_inserted_code_is_pending(store: Store) -> None:
    """A new code reads back pending, with no attempts and its fields intact."""
    code = replace(new_code(), case_sensitive=True, callback_url="https://example.com/cb")
    code_id = store.insert_code(code)
    record = store.find_code("tok_a", "ref-1")
    assert record is not None
    assert (record.id, record.state, record.attempts) == (code_id, "pending", 0)
    assert (record.message_id, record.phone, record.code_hash) == (
        code.message_id,
        code.phone,
        code.code_hash,
    )
    assert (record.case_sensitive, record.callback_url, record.expires_at) == (
        True,
        "https://example.com/cb",
        code.expires_at,
    )


def test_insert_code_returns_distinct_ids(store: Store) -> None:
    """Each inserted code gets its own id."""
    ids = {store.insert_code(new_code(f"ref-{n}")) for n in range(5)}
    assert len(ids) == 5


def test_duplicate_client_ref_under_one_token_is_refused(store: Store) -> None:
    """A second code with the same (token, client_ref) raises DuplicateClientRef."""
    store.insert_code(new_code("ref-1"))
    with pytest.raises(DuplicateClientRef):
        store.insert_code(new_code("ref-1", phone=DE))


def test_same_client_ref_under_another_token_is_fine(store: Store) -> None:
    """client_refs are scoped by token: another token may reuse one."""
    store.insert_code(new_code("ref-1", token_id="tok_a"))
    store.insert_code(new_code("ref-1", token_id="tok_b"))
    assert state_of(store, "ref-1", "tok_a") == "pending"
    assert state_of(store, "ref-1", "tok_b") == "pending"


def test_duplicate_message_id_is_refused(store: Store) -> None:
    """A second code with a message_id already stored raises DuplicateMessageId."""
    store.insert_code(new_code("ref-1", message_id="12345678901234567890"))
    with pytest.raises(DuplicateMessageId):
        store.insert_code(new_code("ref-2", message_id="12345678901234567890"))
    assert store.find_code("tok_a", "ref-2") is None


def test_client_ref_taken(store: Store) -> None:
    """client_ref_taken is True only for the (token, client_ref) stored."""
    assert store.client_ref_taken("tok_a", "ref-1") is False
    store.insert_code(new_code("ref-1"))
    assert store.client_ref_taken("tok_a", "ref-1") is True
    assert store.client_ref_taken("tok_b", "ref-1") is False
    assert store.client_ref_taken("tok_a", "ref-2") is False


def test_find_code_unknown_is_none(store: Store) -> None:
    """No code is found for a client_ref nobody used."""
    assert store.find_code("tok_a", "nothing") is None


# -- activation and discarding -----------------------------------------------------------


def test_activate_makes_pending_live(store: Store) -> None:
    """Activation turns a pending code live and says so."""
    code_id = store.insert_code(new_code())
    assert store.activate_code(code_id, NOW).state == "live"
    assert state_of(store, "ref-1") == "live"


def test_activate_supersedes_older_live_code_of_the_phone(store: Store) -> None:
    """A newer live code for the same (token, phone) supersedes the older one."""
    live_code(store, "old")
    live_code(store, "new")
    assert state_of(store, "old") == "superseded"
    assert state_of(store, "new") == "live"


@pytest.mark.parametrize(
    ("other_token", "other_phone"),
    [
        pytest.param("tok_a", DE, id="other-phone"),
        pytest.param("tok_b", UK, id="other-token"),
    ],
)
def test_activate_leaves_other_phones_and_tokens_alone(
    store: Store, other_token: str, other_phone: str
) -> None:
    """Only codes of the same token AND phone are superseded."""
    live_code(store, "first", token_id="tok_a", phone=UK)
    live_code(store, "second", token_id=other_token, phone=other_phone)
    assert state_of(store, "first", "tok_a") == "live"
    assert state_of(store, "second", other_token) == "live"


def test_activate_does_not_touch_used_codes(store: Store) -> None:
    """A used code stays used when a newer code for the phone goes live."""
    old = live_code(store, "old")
    assert store.consume_code(old, NOW, 5)
    live_code(store, "new")
    assert state_of(store, "old") == "used"


def test_older_activation_losing_a_race_ends_superseded(store: Store) -> None:
    """When a newer code went live first, the older one's late activation is superseded."""
    older = store.insert_code(new_code("older"))
    newer = store.insert_code(new_code("newer"))
    assert store.activate_code(newer, NOW).state == "live"
    assert store.activate_code(older, NOW).state == "superseded"
    assert state_of(store, "older") == "superseded"
    assert state_of(store, "newer") == "live"


def test_discard_frees_the_client_ref(store: Store) -> None:
    """A discarded pending code is gone and its client_ref and message_id are free."""
    code = new_code("ref-1")
    code_id = store.insert_code(code)
    store.discard_code(code_id)
    assert store.find_code("tok_a", "ref-1") is None
    assert store.client_ref_taken("tok_a", "ref-1") is False
    store.insert_code(code)
    assert state_of(store, "ref-1") == "pending"


def test_discard_leaves_a_live_code(store: Store) -> None:
    """Only pending codes are discarded; a live one stays live."""
    code_id = live_code(store)
    store.discard_code(code_id)
    assert state_of(store, "ref-1") == "live"
    assert store.client_ref_taken("tok_a", "ref-1") is True


# -- consuming ---------------------------------------------------------------------------


def test_consume_succeeds_once(store: Store) -> None:
    """A live code is consumed by exactly one call and then reads 'used'."""
    code_id = live_code(store)
    assert store.consume_code(code_id, NOW, 5) is True
    assert store.consume_code(code_id, NOW, 5) is False
    assert state_of(store, "ref-1") == "used"


@pytest.mark.parametrize(
    ("now", "consumed"),
    [
        pytest.param(NOW + TTL - 0.001, True, id="just-before-expiry"),
        pytest.param(NOW + TTL, False, id="at-expires_at"),
        pytest.param(NOW + TTL + 60, False, id="after-expiry"),
    ],
)
def test_consume_respects_expiry(store: Store, now: float, consumed: bool) -> None:
    """A code can be consumed strictly before expires_at, never at or after it."""
    code_id = live_code(store)
    assert store.consume_code(code_id, now, 5) is consumed
    assert state_of(store, "ref-1") == ("used" if consumed else "live")


def test_consume_takes_a_pending_code(store: Store) -> None:
    """A pending code can be consumed: whoever holds it got it from its SMS, which went out
    before the service recorded the gateway's answer."""
    code_id = store.insert_code(new_code())
    assert store.consume_code(code_id, NOW, 5) is True
    assert state_of(store, "ref-1") == "used"
    assert store.activate_code(code_id, NOW).state == "used"


def test_count_failure_counts_on_a_pending_code(store: Store) -> None:
    """Wrong guesses against a pending code are counted like any other."""
    code_id = store.insert_code(new_code())
    assert store.count_failure(code_id, NOW, 5) == 1
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and (record.attempts, record.state) == (1, "pending")


def test_consume_refuses_a_superseded_code(store: Store) -> None:
    """A superseded code cannot be consumed."""
    old = live_code(store, "old")
    live_code(store, "new")
    assert store.consume_code(old, NOW, 5) is False


def test_consume_refuses_a_locked_code(store: Store) -> None:
    """A code locked by wrong attempts cannot be consumed."""
    code_id = live_code(store)
    for _ in range(3):
        store.count_failure(code_id, NOW, 3)
    assert state_of(store, "ref-1") == "locked"
    assert store.consume_code(code_id, NOW, 3) is False


def test_consume_refuses_a_code_at_the_attempt_limit(store: Store) -> None:
    """A live code whose attempts already reach the limit asked for cannot be consumed."""
    code_id = live_code(store)
    store.count_failure(code_id, NOW, 5)
    store.count_failure(code_id, NOW, 5)
    assert store.consume_code(code_id, NOW, 2) is False


def test_consume_unknown_code_is_false(store: Store) -> None:
    """Consuming an id nobody stored is False."""
    assert store.consume_code(987_654, NOW, 5) is False


# -- counting failures -------------------------------------------------------------------


def test_count_failure_increments_attempts(store: Store) -> None:
    """Each wrong attempt below the limit is counted and the code stays live."""
    code_id = live_code(store)
    assert store.count_failure(code_id, NOW, 5) == 1
    assert store.count_failure(code_id, NOW, 5) == 2
    record = store.find_code("tok_a", "ref-1")
    assert record is not None
    assert (record.attempts, record.state) == (2, "live")


def test_count_failure_locks_at_the_limit(store: Store) -> None:
    """The attempt that reaches max_attempts locks the code."""
    code_id = live_code(store)
    results = [store.count_failure(code_id, NOW, 3) for _ in range(3)]
    record = store.find_code("tok_a", "ref-1")
    assert results == [1, 2, 3]
    assert record is not None
    assert (record.attempts, record.state) == (3, "locked")


def test_count_failure_refuses_past_the_limit(store: Store) -> None:
    """Once locked, further wrong attempts are refused and not recorded."""
    code_id = live_code(store)
    for _ in range(3):
        store.count_failure(code_id, NOW, 3)
    assert store.count_failure(code_id, NOW, 3) is None
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and record.attempts == 3


@pytest.mark.parametrize(
    "now",
    [pytest.param(NOW + TTL, id="at-expires_at"), pytest.param(NOW + TTL + 1, id="after")],
)
def test_count_failure_refuses_an_expired_code(store: Store, now: float) -> None:
    """A wrong attempt on an expired code is refused and not recorded."""
    code_id = live_code(store)
    assert store.count_failure(code_id, now, 5) is None
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and record.attempts == 0


def test_count_failure_refuses_a_used_code(store: Store) -> None:
    """A wrong attempt after the code was used is refused and not recorded."""
    code_id = live_code(store)
    store.consume_code(code_id, NOW, 5)
    assert store.count_failure(code_id, NOW, 5) is None
    record = store.find_code("tok_a", "ref-1")
    assert record is not None and (record.attempts, record.state) == (0, "used")


# -- rate limits -------------------------------------------------------------------------


def test_take_admits_the_limit_then_refuses(store: Store) -> None:
    """Exactly `limit` events are admitted in a window; the next is refused until the
    oldest admitted one leaves the window."""
    now = WINDOW + 15.5
    admitted = [store.take("k", 3, 60, now) for _ in range(3)]
    assert admitted == [None, None, None]
    assert store.take("k", 3, 60, now) == 60
    assert store.take("k", 3, 60, now + 59.5) == 1


@pytest.mark.parametrize(
    ("offset", "wait"),
    [
        pytest.param(0.0, 60, id="same-instant"),
        pytest.param(30.0, 30, id="middle"),
        pytest.param(58.2, 2, id="fraction-rounds-up"),
        pytest.param(59.999, 1, id="last-instant-at-least-1"),
    ],
)
def test_retry_after_is_when_the_oldest_event_leaves(
    store: Store, offset: float, wait: int
) -> None:
    """A refused event is told the whole seconds until the window frees (at least 1)."""
    store.take("k", 1, 60, WINDOW)
    assert store.take("k", 1, 60, WINDOW + offset) == wait
    assert store.peek("k", 1, 60, WINDOW + offset) == wait


def test_window_slides_event_by_event(store: Store) -> None:
    """Each admitted event frees its place exactly one window after it was admitted."""
    store.take("k", 2, 60, WINDOW + 10)
    store.take("k", 2, 60, WINDOW + 40)
    assert store.take("k", 2, 60, WINDOW + 69.9) is not None
    assert store.take("k", 2, 60, WINDOW + 70) is None  # the first left at +70
    assert store.take("k", 2, 60, WINDOW + 71) == 29  # the second leaves at +100
    assert store.take("k", 2, 60, WINDOW + 100) is None


def test_no_window_across_an_edge_holds_more_than_the_limit(store: Store) -> None:
    """Events bunched at the end of one minute and the start of the next: a fixed window
    would admit twice the limit within a few seconds; a sliding one admits the limit."""
    admitted = [
        at for at in (WINDOW + 58, WINDOW + 59, WINDOW + 60, WINDOW + 61, WINDOW + 62)
        for _ in range(3) if store.take("edge", 3, 60, at) is None
    ]
    assert admitted == [WINDOW + 58] * 3


def test_keys_are_counted_apart(store: Store) -> None:
    """Different keys have separate windows."""
    store.take("a", 1, 60, WINDOW)
    assert store.take("a", 1, 60, WINDOW) is not None
    assert store.take("b", 1, 60, WINDOW) is None


def test_peek_counts_nothing(store: Store) -> None:
    """Peeking never uses up the allowance."""
    for _ in range(5):
        assert store.peek("k", 2, 60, WINDOW) is None
    assert [store.take("k", 2, 60, WINDOW) for _ in range(2)] == [None, None]


def test_peek_reports_a_full_window(store: Store) -> None:
    """peek answers like take once the window is full, and None once it frees."""
    store.take("k", 2, 60, WINDOW)
    assert store.peek("k", 2, 60, WINDOW + 1) is None
    store.take("k", 2, 60, WINDOW + 1)
    assert store.peek("k", 2, 60, WINDOW + 20) == 40
    assert store.peek("k", 2, 60, WINDOW + 60) is None


def test_refused_take_is_not_counted_against_a_higher_limit(store: Store) -> None:
    """A refused event counts nothing: raising the limit later admits exactly the rest."""
    store.take("k", 1, 60, WINDOW)
    for _ in range(5):
        assert store.take("k", 1, 60, WINDOW) is not None
    assert store.take("k", 2, 60, WINDOW) is None
    assert store.take("k", 2, 60, WINDOW) is not None


# -- purge -------------------------------------------------------------------------------


RETENTION = 3600.0


def test_purge_removes_codes_past_retention(store: Store) -> None:
    """Codes whose expires_at + retention is at or before now are deleted and counted."""
    live_code(store, "boundary", expires_at=NOW)
    live_code(store, "older", expires_at=NOW - 10, phone=DE)
    live_code(store, "kept", expires_at=NOW + 0.5, phone=FR)
    assert store.purge(NOW + RETENTION, RETENTION) == 2
    assert store.find_code("tok_a", "boundary") is None
    assert store.find_code("tok_a", "older") is None
    assert state_of(store, "kept") == "live"


def test_purge_removes_pending_codes_past_expiry(store: Store) -> None:
    """A code left pending (its sender died) goes once it has expired, retention or not:
    pending codes never pile up."""
    store.insert_code(new_code("orphan", expires_at=NOW))
    store.insert_code(new_code("sending", expires_at=NOW + 1, phone=DE))
    assert store.purge(NOW, RETENTION) == 1
    assert store.find_code("tok_a", "orphan") is None
    assert state_of(store, "sending") == "pending"


def test_purge_frees_client_refs(store: Store) -> None:
    """A purged code's client_ref (and message_id) can be used again."""
    code = new_code("ref-1", expires_at=NOW)
    live_code(store, "ref-1", expires_at=NOW, message_id=code.message_id)
    store.purge(NOW + RETENTION, RETENTION)
    assert store.client_ref_taken("tok_a", "ref-1") is False
    store.insert_code(replace(code, expires_at=NOW + RETENTION + TTL))
    assert state_of(store, "ref-1") == "pending"


def test_purge_keeps_codes_within_retention(store: Store) -> None:
    """Expired codes still inside retention stay, with their client_ref taken."""
    live_code(store, "ref-1", expires_at=NOW)
    assert store.purge(NOW + RETENTION - 1, RETENTION) == 0
    assert state_of(store, "ref-1") == "live"
    assert store.client_ref_taken("tok_a", "ref-1") is True


def test_purge_of_nothing_is_zero(store: Store) -> None:
    """Purging an empty store deletes nothing."""
    assert store.purge(NOW, 0) == 0


def test_purge_drops_ended_rate_windows(store: Store) -> None:
    """A window that has ended is forgotten by purge."""
    store.take("k", 1, 60, WINDOW)
    assert store.peek("k", 1, 60, WINDOW) is not None
    store.purge(WINDOW + 60, RETENTION)
    assert store.peek("k", 1, 60, WINDOW) is None


def test_purge_keeps_the_current_rate_window(store: Store) -> None:
    """A window that has not ended keeps its count through a purge."""
    store.take("k", 1, 60, WINDOW)
    store.purge(WINDOW + 59, RETENTION)
    assert store.take("k", 1, 60, WINDOW + 59) == 1


# -- SQLite only -------------------------------------------------------------------------


def test_fresh_sqlite_file_is_migrated(sqlite_store: SQLiteStore) -> None:
    """A new file is created at the newest schema version."""
    assert sqlite_store.schema_version() == len(MIGRATIONS)


def test_reopening_a_sqlite_file_keeps_its_data(sqlite_path: Path) -> None:
    """Tokens and codes survive closing and reopening the file."""
    first = SQLiteStore(sqlite_path)
    first.add_token(token_record())
    live_code(first)
    first.close()
    second = SQLiteStore(sqlite_path)
    try:
        assert second.schema_version() == len(MIGRATIONS)
        assert [t.id for t in second.list_tokens()] == ["tok_a"]
        assert state_of(second, "ref-1") == "live"
    finally:
        second.close()


def test_sqlite_file_is_in_wal_mode(sqlite_store: SQLiteStore, sqlite_path: Path) -> None:
    """The file is in write-ahead-log mode (seen from an outside connection)."""
    sqlite_store.add_token(token_record())
    outside = sqlite3.connect(sqlite_path)
    try:
        assert outside.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        outside.close()


def test_sqlite_file_from_a_newer_release_is_refused(sqlite_path: Path) -> None:
    """A file at a schema version above this release's raises StoreError."""
    outside = sqlite3.connect(sqlite_path)
    outside.execute("PRAGMA user_version = 99")
    outside.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(sqlite_path)
