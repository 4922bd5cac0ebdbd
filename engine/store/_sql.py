"""The store in SQL, once for every database: statements, row mapping, backend hooks.

A backend (:mod:`.sqlite`, :mod:`.postgres`) supplies only its connections, transactions,
locks, error mapping and migrations. Statements use ``:name`` parameters; a backend whose
driver wants another style translates them (:func:`pyformat`). Every write that reads first
runs in a transaction that holds what it read: on SQLite every write transaction excludes
every other writer; on PostgreSQL :meth:`SQLStore._lock` takes a transaction-scoped lock on
the name it is given.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import lru_cache
from typing import Any, Protocol

from .._access import TokenRecord
from .._token_options import TOKEN_OPTION_NAMES, TOKEN_OPTIONS
from ._base import (
    CallbackJob,
    CodeRecord,
    StoreError,
)
from ._sql_traffic import PURGE as TRAFFIC_PURGE

# A token's columns: its identity, its options (one column each), then its life.
TOKEN_FIELDS = (
    "id", "name", "token_hash", *TOKEN_OPTION_NAMES, "created_at", "revoked_at", "source",
    "last_used_at",
)
TOKEN_COLUMNS = ", ".join(TOKEN_FIELDS)
CODE_COLUMNS = (
    "id, message_id, token_id, client_ref, phone, code_hash, code_length, case_sensitive,"
    " sender, callback_url, created_at, expires_at, state, attempts, api_job_id,"
    " delivery_status, delivered_at, sent_at, gateway, provider_id"
)
JOB_COLUMNS = (
    "o.id, o.token_id, o.message_id, o.url, o.attempts, o.kind, o.status, o.event_at,"
    " c.api_job_id, c.phone, c.sender, c.client_ref, o.body, o.claim"
)
# The unique constraints a write can break, by the names both backends give them.
TOKEN_ID, TOKEN_DIGEST = "tokens_pkey", "tokens_token_hash_key"
TOKEN_NAME = "tokens_active_name_key"  # noqa: S105 - a constraint name
MESSAGE_ID, CLIENT_REF = "codes_message_id_key", "codes_token_client_ref_key"

# Built from the constants above only: no value reaches the SQL text.
SELECT_TOKENS = f"SELECT {TOKEN_COLUMNS} FROM tokens"  # noqa: S608
SELECT_CODES = f"SELECT {CODE_COLUMNS} FROM codes"  # noqa: S608
PUT_TOKEN = (
    f"INSERT INTO tokens ({TOKEN_COLUMNS})"  # noqa: S608
    f" VALUES ({', '.join(':' + column for column in TOKEN_FIELDS)})"
)
# A token written again keeps its id and the time it was last used (written on its own).
UPSERT_TOKEN = PUT_TOKEN + " ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column in TOKEN_FIELDS
    if column not in ("id", "last_used_at")
)
INSERT_CODE = (
    "INSERT INTO codes (message_id, token_id, client_ref, phone, code_hash, code_length,"
    " case_sensitive, sender, callback_url, created_at, expires_at, api_job_id, state, attempts,"
    " number_range)"
    " VALUES (:message_id, :token_id, :client_ref, :phone, :code_hash, :code_length,"
    " :case_sensitive, :sender, :callback_url, :created_at, :expires_at, :api_job_id,"
    " 'pending', 0, :number_range) RETURNING id"
)
ENQUEUE = (
    "INSERT INTO outbox (token_id, message_id, url, kind, status, event_at, state, attempts,"
    " next_attempt_at, created_at) VALUES (:token_id, :message_id, :url, :kind, :status, :at,"
    " 'pending', 0, :at, :at)"
)
# Marks a statement to be planned for its values each time it runs (PostgreSQL; a comment
# to SQLite). psycopg prepares a statement run five times, and PostgreSQL may then keep one
# generic plan for the connection's life. For the statements marked, such a plan made
# while the codes table was nearly empty (a new database, or a new schema as each benchmark
# run starts) read every code of the token at each send: the database's CPU per
# request-code grew from 1.9 to 3.0 ms within 15 s at 300 a second, and on, until an
# ANALYZE replaced it. Planning each of them costs less than that at once; the statements of
# validate-code keep their prepared plans (planning them each time cost 0.45 ms each).
PLANNED_EACH_TIME = "/* planned for its values */ "
OPEN = "state IN ('live', 'pending') AND expires_at > :now AND attempts < :max_attempts"
# A code that was never sent, made before :stale: its sender died (its client_ref comes free).
ABANDONED = "sent_at IS NULL AND state IN ('pending', 'superseded') AND created_at <= :stale"
# What a purge deletes, each statement on its own (idempotent, safe on several nodes at
# once), and whether it counts as a purged code.
PURGE = (
    ("DELETE FROM codes WHERE expires_at <= :cutoff", True),
    ("DELETE FROM codes WHERE sent_at IS NULL AND state IN ('pending', 'superseded')"
     " AND expires_at <= :now", True),
    ("DELETE FROM outbox WHERE state <> 'pending' AND created_at <= :cutoff", False),
    ("DELETE FROM rate_slots WHERE key IN (SELECT key FROM rate_heads WHERE ends_at <= :now)",
     False),
    ("DELETE FROM rate_heads WHERE ends_at <= :now", False),
    # A release is kept while a code from before it is stored: that code must not count
    # against the range again.
    ("DELETE FROM fraud_ranges WHERE held_until IS NULL AND released_at <= :cutoff"
     " AND NOT EXISTS (SELECT 1 FROM codes WHERE codes.token_id = fraud_ranges.token_id"
     " AND codes.number_range = fraud_ranges.prefix"
     " AND codes.created_at < fraud_ranges.released_at)", False),
    (TRAFFIC_PURGE, False),
)


class Cursor(Protocol):
    """What a statement returns, on every driver."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """A connection as the statements below use it."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...


class Violation(StoreError):
    """A write broke a unique constraint (``constraint``, None when it was another rule)."""

    def __init__(self, constraint: str | None, detail: str) -> None:
        super().__init__(detail)
        self.constraint = constraint


@lru_cache(maxsize=256)
def pyformat(sql: str) -> str:
    """``:name`` parameters as ``%(name)s`` (and literal ``%`` doubled), for psycopg."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql.replace("%", "%%"))


def token_row(record: TokenRecord) -> dict[str, Any]:
    """A token's column values."""
    return {
        "id": record.id,
        "name": record.name,
        "token_hash": record.token_hash,
        **{option.name: option.to_column(getattr(record, option.name)) for option in TOKEN_OPTIONS},
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
        "source": record.source,
        "last_used_at": record.last_used_at,
    }


def token_record(row: Sequence[Any]) -> TokenRecord:
    """A token read back (columns in :data:`TOKEN_COLUMNS` order)."""
    values = dict(zip(TOKEN_FIELDS, row, strict=True))
    for option in TOKEN_OPTIONS:
        values[option.name] = option.from_column(values[option.name])
    return TokenRecord(**values)


def code_record(row: Sequence[Any]) -> CodeRecord:
    """A code read back (columns in :data:`CODE_COLUMNS` order)."""
    return CodeRecord(
        id=row[0], message_id=row[1], token_id=row[2], client_ref=row[3], phone=row[4],
        code_hash=row[5], code_length=row[6], case_sensitive=bool(row[7]), sender=row[8],
        callback_url=row[9], created_at=row[10], expires_at=row[11], state=row[12],
        attempts=row[13], api_job_id=row[14], delivery_status=row[15], delivered_at=row[16],
        sent_at=row[17], gateway=row[18], provider_id=row[19],
    )


def callback_job(row: Sequence[Any]) -> CallbackJob:
    """A claimed callback (columns in :data:`JOB_COLUMNS` order)."""
    return CallbackJob(
        id=row[0], token_id=row[1], message_id=row[2], url=row[3], attempts=row[4],
        kind=row[5] or "", status=row[6] or "", at=row[7] or 0.0, api_job_id=row[8],
        phone=row[9] or "", sender=row[10] or "", client_ref=row[11] or "", body=row[12],
        claim=row[13] or "",
    )


class SQLBackend(ABC):
    """What a backend provides the SQL store with."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Connection]:
        """A connection for reads."""

    @abstractmethod
    def _write(self, durable: bool = True) -> AbstractContextManager[Connection]:
        """A connection for one write statement (atomic on its own). Not ``durable``: the
        write may be lost on power failure (counters), never half applied."""

    @abstractmethod
    def _transaction(self, durable: bool = True) -> AbstractContextManager[Connection]:
        """A connection inside a write transaction, committed when the block ends."""

    def _lock(self, conn: Connection, *names: str) -> None:  # noqa: B027 - optional hook
        """Serialise transactions that name any of ``names`` until this one ends (no-op
        where every write transaction excludes the others). Locks are taken in one order
        whatever the caller's, so two transactions never wait on each other."""

    def _lock_phone_of(self, conn: Connection, code_id: int) -> tuple[str, str] | None:
        """:meth:`_lock` the phone a code was sent to (``phone:<token id>\\x1f<phone>``),
        read from the code in the same statement where the backend can; the (token id,
        phone) read, None where nothing was (no lock needed)."""
        return None

    @abstractmethod
    def _claim(
        self, conn: Connection, now: float, limit: int, lease: float, claim: str
    ) -> list[Any]:
        """Claim due outbox rows inside a transaction: rows in :data:`JOB_COLUMNS` order."""
