"""The SQL store: validations (:mod:`.sql_validation`), codes and callbacks
(:mod:`.sql_codes`), admissions and rate limits (:mod:`.sql_admission`), the fraud guard's
holds (:mod:`.sql_fraud`), tokens and housekeeping, for every backend."""

from __future__ import annotations

from .._access import TokenRecord
from ._base import DuplicateToken, DuplicateTokenName, Store, StoreError
from ._sql import (
    PURGE,
    PUT_TOKEN,
    SELECT_TOKENS,
    TOKEN_DIGEST,
    TOKEN_ID,
    TOKEN_NAME,
    UPSERT_TOKEN,
    Violation,
    token_record,
    token_row,
)
from ._sql_admin import SQLAdminEvents
from ._sql_admission import SQLAdmission
from ._sql_codes import SQLCodes
from ._sql_fraud import SQLFraud
from ._sql_meta import SQLMeta
from ._sql_validation import SQLValidation


class SQLStore(SQLValidation, SQLCodes, SQLAdmission, SQLFraud, SQLMeta, SQLAdminEvents, Store):
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

    # -- housekeeping ----------------------------------------------------------------------
    def purge(self, now: float, retention: float) -> int:
        times = {"cutoff": now - retention, "now": now}
        removed = 0
        for sql, counted in PURGE:
            with self._write(durable=False) as conn:
                count = conn.execute(sql, times).rowcount
            removed += max(count, 0) if counted else 0
        return removed
