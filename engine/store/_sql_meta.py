"""The database's named values (:class:`.meta.MetaStore`) in SQL, for every backend."""

from __future__ import annotations

from ._meta import MetaStore
from ._sql import SQLBackend

# Appended to both backends' migrations; types both understand.
META_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE tfa_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_READ = "SELECT value FROM tfa_meta WHERE name = :n"


class SQLMeta(SQLBackend, MetaStore):
    """:class:`MetaStore` in SQL."""

    def settle_meta(self, name: str, value: str) -> str:
        # An insert racing another waits for it to commit, then inserts nothing; the read
        # after it (a statement of its own, so a fresh snapshot) sees the winner's value.
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO tfa_meta (name, value) VALUES (:n, :v)"
                " ON CONFLICT (name) DO NOTHING",
                {"n": name, "v": value},
            )
            row = conn.execute(_READ, {"n": name}).fetchone()
        return str(row[0])

    def read_meta(self, name: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(_READ, {"n": name}).fetchone()
        return None if row is None else str(row[0])

    def replace_meta(self, name: str, value: str) -> str | None:
        with self._transaction() as conn:
            self._lock(conn, "meta:" + name)
            row = conn.execute(_READ, {"n": name}).fetchone()
            conn.execute(
                "INSERT INTO tfa_meta (name, value) VALUES (:n, :v)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                {"n": name, "v": value},
            )
        return None if row is None else str(row[0])
