"""The fraud guard's holds in SQL (see :mod:`.sql`), for every backend."""

from __future__ import annotations

from ._base import FraudStore
from ._sql import SQLBackend
from ._sql_traffic import RELEASE, release_params


class SQLFraud(SQLBackend, FraudStore):
    """:class:`FraudStore` in SQL."""

    def hold_range(self, token_id: str, prefix: str, until: float) -> bool:
        with self._write() as conn:
            return conn.execute(
                "INSERT INTO fraud_ranges (token_id, prefix, held_until) VALUES (:t, :p, :u)"
                " ON CONFLICT (token_id, prefix) DO UPDATE SET held_until = excluded.held_until"
                " WHERE fraud_ranges.held_until IS NULL",
                {"t": token_id, "p": prefix, "u": until},
            ).rowcount == 1

    def release_range(
        self, token_id: str, prefix: str, now: float, expired_by: float | None = None
    ) -> bool:
        sql = RELEASE if expired_by is None else RELEASE + " AND held_until <= :by"
        with self._write() as conn:
            params = release_params(token_id, prefix, now)
            params["by"] = expired_by
            return conn.execute(sql, params).rowcount == 1

    def held_ranges(self, now: float) -> list[tuple[str, str, float]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT token_id, prefix, held_until FROM fraud_ranges"
                " WHERE held_until > :now ORDER BY held_until, token_id, prefix",
                {"now": now},
            ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]
