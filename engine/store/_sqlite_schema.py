"""The SQLite schema, as an append-only list of migrations.

A file at version N gets migrations N+1.. applied in order, inside one transaction with
the version bump, so a crash never leaves a half-migrated file. sqlite-utils builds the
tables; plain SQL says the rest (partial indexes, rewritten data).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from ._schema import (
    FRAUD_SCHEMA,
    GATEWAYS,
    NUMBER_RANGES,
    RANGE_INDEX_WITHOUT_STATE,
    SENT_AND_CLAIMS,
    UNIQUE_TOKEN_NAMES,
)
from ._sql_meta import META_SCHEMA
from ._sql_traffic import SQLITE as RANGE_TRAFFIC


def _migration_1(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    db.table("tokens").create(
        {
            "id": str,
            "name": str,
            "token_hash": str,
            "allowed_ips": str,
            "sender_id": str,
            "code_ttl": int,
            "max_attempts": int,
            "created_at": float,
            "revoked_at": float,
            "source": str,
        },
        pk="id",
        not_null={"name", "token_hash", "allowed_ips", "created_at", "source"},
    )
    db.table("tokens").create_index(["token_hash"], unique=True)
    db.table("codes").create(
        {
            "id": int,
            "message_id": str,
            "token_id": str,
            "client_ref": str,
            "phone": str,
            "code_hash": str,
            "code_length": int,
            "case_sensitive": int,
            "sender": str,
            "callback_url": str,
            "created_at": float,
            "expires_at": float,
            "state": str,
            "attempts": int,
        },
        pk="id",
        not_null={
            "message_id", "token_id", "client_ref", "phone", "code_hash", "code_length",
            "case_sensitive", "sender", "created_at", "expires_at", "state", "attempts",
        },
    )
    db.table("codes").create_index(["token_id", "client_ref"], unique=True)
    db.table("codes").create_index(["message_id"], unique=True)
    db.table("codes").create_index(["token_id", "phone", "state"])
    db.table("codes").create_index(["expires_at"])
    db.table("rate_windows").create(
        {"key": str, "window_start": int, "ends_at": int, "hits": int},
        pk=("key", "window_start"),
        not_null={"ends_at", "hits"},
    )


def _migration_2(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    codes = db.table("codes")
    codes.add_column("api_job_id", str, not_null_default="")
    codes.add_column("delivery_status", str)
    codes.add_column("delivered_at", float)
    outbox = db.table("outbox")
    outbox.create(
        {
            "id": int,
            "token_id": str,
            "message_id": str,
            "url": str,
            "body": str,
            "state": str,
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "created_at": float,
        },
        pk="id",
        not_null={
            "token_id", "message_id", "url", "body", "state", "attempts", "next_attempt_at",
            "created_at",
        },
    )
    outbox.create_index(["state", "next_attempt_at"])
    outbox.create_index(["message_id"])


_CODE_COLUMNS = (
    "id, message_id, token_id, client_ref, phone, code_hash, code_length, case_sensitive,"
    " sender, callback_url, created_at, expires_at, state, attempts, api_job_id,"
    " delivery_status, delivered_at"
)
_CODES_V3 = """CREATE TABLE codes_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    token_id TEXT NOT NULL,
    client_ref TEXT NOT NULL,
    phone TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    code_length INTEGER NOT NULL,
    case_sensitive INTEGER NOT NULL,
    sender TEXT NOT NULL,
    callback_url TEXT,
    created_at FLOAT NOT NULL,
    expires_at FLOAT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    api_job_id TEXT NOT NULL DEFAULT '',
    delivery_status TEXT,
    delivered_at FLOAT
)"""
_CODE_INDEXES = (
    "CREATE UNIQUE INDEX idx_codes_token_id_client_ref ON codes (token_id, client_ref)",
    "CREATE UNIQUE INDEX idx_codes_message_id ON codes (message_id)",
    "CREATE INDEX idx_codes_token_id_phone_state ON codes (token_id, phone, state)",
    "CREATE INDEX idx_codes_expires_at ON codes (expires_at)",
    # The database itself holds one live code per (token, phone).
    "CREATE UNIQUE INDEX codes_one_live_per_phone ON codes (token_id, phone)"
    " WHERE state = 'live'",
)


def _migration_3(conn: sqlite3.Connection) -> None:
    """Token settings for abuse control and administration; callbacks kept as events (their
    bodies are built when delivered); sliding-window counters; codes whose ids are never
    reused and of which the database holds one live per (token, phone); a row for readiness
    probes to write."""
    db = sqlite_utils.Database(conn)
    tokens = db.table("tokens")
    tokens.add_column("allowed_destinations", str, not_null_default="[]")
    tokens.add_column("sms_budget", str)
    tokens.add_column("last_used_at", float)
    outbox = db.table("outbox")
    for name, kind in (("kind", str), ("status", str), ("event_at", float)):
        outbox.add_column(name, kind)
    outbox.transform(not_null={"body": False})
    conn.execute(
        "CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending'"
    )
    db.table("rate_windows").drop()
    db.table("rate_heads").create(
        {"key": str, "taken": int, "ends_at": float}, pk="key", not_null={"taken", "ends_at"}
    )
    db.table("rate_heads").create_index(["ends_at"])
    db.table("rate_slots").create(
        {"key": str, "slot": int, "at": float}, pk=("key", "slot"), not_null={"at"}
    )
    db.table("probes").create({"id": int, "at": float}, pk="id")
    # Code ids are never reused (AUTOINCREMENT): a code replaced after its sender died
    # must not hand its id to the code replacing it.
    conn.execute(_CODES_V3)
    conn.execute(f"INSERT INTO codes_v3 ({_CODE_COLUMNS}) SELECT {_CODE_COLUMNS} FROM codes")  # noqa: S608
    conn.execute("DROP TABLE codes")
    conn.execute("ALTER TABLE codes_v3 RENAME TO codes")
    conn.execute(
        "UPDATE codes SET state = 'superseded' WHERE state = 'live' AND id NOT IN"
        " (SELECT max(id) FROM codes WHERE state = 'live' GROUP BY token_id, phone)"
    )
    for index in _CODE_INDEXES:
        conn.execute(index)


def _statements(statements: tuple[str, ...]) -> Callable[[sqlite3.Connection], None]:
    """A migration that executes ``statements`` (shared with PostgreSQL) in order."""

    def migration(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return migration


def _migration_8(conn: sqlite3.Connection) -> None:
    """Administrative events, append-only (ids never reused, so ties keep their order)."""
    conn.execute(
        "CREATE TABLE admin_events (id INTEGER PRIMARY KEY AUTOINCREMENT, at FLOAT NOT NULL,"
        " event TEXT NOT NULL, actor TEXT NOT NULL, token_id TEXT, token_name TEXT,"
        " detail TEXT)"
    )
    conn.execute("CREATE INDEX admin_events_at ON admin_events (at)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
    # 4: the fraud guard: holds per (token, number range), and an index to count a token's
    # recent codes to a range.
    _statements(FRAUD_SCHEMA),
    _statements(UNIQUE_TOKEN_NAMES),  # 5: token names unique among active tokens
    # 6: when each code's SMS was accepted; which claim holds each callback.
    _statements(SENT_AND_CLAIMS),
    # 7: named values about the database itself (the pepper's fingerprint).
    _statements(META_SCHEMA),
    _migration_8,
    # 9: which gateway took each code's SMS, under which provider id; a phone's codes by time.
    _statements(GATEWAYS),
    # 10: each code's number range, and the index counting a token's recent codes to one.
    _statements(NUMBER_RANGES),
    # 11: running totals of each range's codes by slice of time, kept by triggers.
    _statements(RANGE_TRAFFIC),
    # 12: the range's index without the codes' state.
    _statements(RANGE_INDEX_WITHOUT_STATE),
)
