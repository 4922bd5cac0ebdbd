"""The SQL store: codes and callbacks (:mod:`.sql_codes`), tokens, rate limits and
housekeeping, for every backend."""

from __future__ import annotations

from ..access import TokenRecord
from .base import DuplicateToken, DuplicateTokenName, Store, StoreError, retry_after
from .sql import (
    PURGE,
    PUT_TOKEN,
    SELECT_TOKENS,
    TOKEN_DIGEST,
    TOKEN_ID,
    TOKEN_NAME,
    UPSERT_TOKEN,
    Connection,
    Violation,
    token_record,
    token_row,
)
from .sql_admin import SQLAdminEvents
from .sql_codes import SQLCodes
from .sql_fraud import SQLFraud


class SQLStore(SQLCodes, SQLFraud, SQLAdminEvents, Store):
    """Every store method as SQL on the connections a backend hands out."""

    # -- tokens ----------------------------------------------------------------------------
    def add_token(self, record: TokenRecord) -> None:
        self._write_token(PUT_TOKEN, record)

    def put_token(self, record: TokenRecord) -> None:
        self._write_token(UPSERT_TOKEN, record)

    def _write_token(self, sql: str, record: TokenRecord) -> None:
        try:
            with self._write() as conn:
                conn.execute(sql, token_row(record))
        except Violation as exc:
            if exc.constraint in (TOKEN_ID, TOKEN_DIGEST):
                raise DuplicateToken(record.id) from None
            if exc.constraint == TOKEN_NAME:
                raise DuplicateTokenName(record.name) from None
            raise StoreError(str(exc)) from None

    def touch_token(self, token_id: str, now: float) -> None:
        # A use is no reason to wait for the disk: losing one costs a stale "last used".
        with self._write(durable=False) as conn:
            conn.execute(
                "UPDATE tokens SET last_used_at = :now WHERE id = :id", {"now": now, "id": token_id}
            )

    def token_by_digest(self, digest: str) -> TokenRecord | None:
        with self._read() as conn:
            row = conn.execute(SELECT_TOKENS + " WHERE token_hash = :d", {"d": digest}).fetchone()
        return None if row is None else token_record(row)

    def list_tokens(self) -> list[TokenRecord]:
        with self._read() as conn:
            rows = conn.execute(SELECT_TOKENS + " ORDER BY created_at, id").fetchall()
        return [token_record(row) for row in rows]

    def revoke_token(self, token_id: str, now: float) -> bool:
        with self._write() as conn:
            return conn.execute(
                "UPDATE tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
                {"now": now, "id": token_id},
            ).rowcount == 1

    # -- rate limits -----------------------------------------------------------------------
    # Each key keeps the times of its last ``limit`` admitted events in a ring of slots:
    # event n goes to slot n % limit, so before event n is admitted, its slot holds event
    # n - limit, which must have left the window. No window then holds more than ``limit``.
    def take(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        # Counters are not worth an fsync: a power cut forgets a few events, never more.
        with self._transaction(durable=False) as conn:
            self._lock(conn, "limit:" + key)
            taken, oldest = self._ring(conn, key, limit)
            if oldest is not None and oldest > now - seconds:
                return retry_after(oldest, seconds, now)
            conn.execute(
                "INSERT INTO rate_slots (key, slot, at) VALUES (:k, :slot, :now)"
                " ON CONFLICT (key, slot) DO UPDATE SET at = excluded.at",
                {"k": key, "slot": taken % limit, "now": now},
            )
            conn.execute(
                "INSERT INTO rate_heads (key, taken, ends_at) VALUES (:k, 1, :ends)"
                " ON CONFLICT (key) DO UPDATE SET taken = rate_heads.taken + 1,"
                " ends_at = excluded.ends_at",
                {"k": key, "ends": now + seconds},
            )
        return None

    def peek(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        with self._read() as conn:
            _, oldest = self._ring(conn, key, limit)
        if oldest is not None and oldest > now - seconds:
            return retry_after(oldest, seconds, now)
        return None

    @staticmethod
    def _ring(conn: Connection, key: str, limit: int) -> tuple[int, float | None]:
        """(events admitted so far, time of the one ``limit`` events back or None)."""
        row = conn.execute(
            "SELECT h.taken, s.at FROM rate_heads h LEFT JOIN rate_slots s"
            " ON s.key = h.key AND s.slot = h.taken % :limit WHERE h.key = :k",
            {"k": key, "limit": limit},
        ).fetchone()
        if row is None:
            return 0, None
        return int(row[0]), row[1] if row[0] >= limit else None

    # -- housekeeping ----------------------------------------------------------------------
    def purge(self, now: float, retention: float) -> int:
        times = {"cutoff": now - retention, "now": now}
        removed = 0
        for sql, counted in PURGE:
            with self._write(durable=False) as conn:
                count = conn.execute(sql, times).rowcount
            removed += max(count, 0) if counted else 0
        return removed

    def ping(self, now: float) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO probes (id, at) VALUES (1, :now)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                {"now": now},
            )
