"""Counting the SQL a store sends: statements, write transactions and (PostgreSQL) round
trips, as the database sees them.

``with counting(store) as tally: ...`` records every statement the store issues inside the
block, on the calling thread (SQLite, through the connection's trace callback) or on any
connection of the store's pool (PostgreSQL, by wrapping the pooled connection class's
``execute`` and the command path psycopg sends BEGIN/COMMIT through). What triggers do
within a statement is part of that statement.

* a *statement* is any SQL but transaction control (BEGIN, COMMIT, ROLLBACK) and session
  settings (PRAGMA, SET): data statements and lock statements alike;
* a *transaction* is a write that commits: an explicit BEGIN ... COMMIT, or an INSERT,
  UPDATE or DELETE outside one (it commits on its own);
* a *round trip* (PostgreSQL) is every exchange with the server, BEGIN, COMMIT, settings
  and a connection's check on checkout included.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "END")
_SETTINGS = ("PRAGMA", "SET")
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@dataclass
class Tally:
    """What a store sent within a ``counting`` block."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    round_trips: int = 0
    _open: bool = False

    def saw(self, sql: str) -> None:
        """Account for one exchange carrying ``sql``."""
        self.round_trips += 1
        text = sql.strip()
        first = text.split(None, 1)[0].upper() if text else ""
        if first in _CONTROL:
            if first == "BEGIN":
                self._open = True
                self.transactions += 1
            else:
                self._open = False
            return
        if not text or first in _SETTINGS or text.startswith("--"):
            return
        self.statements.append(" ".join(text.split()))
        if not self._open and first in _WRITES:
            self.transactions += 1

    def __str__(self) -> str:
        listing = "\n  ".join(self.statements)
        return (f"{len(self.statements)} statements in {self.transactions} transactions"
                f" ({self.round_trips} round trips):\n  {listing}")


@contextmanager
def counting(store: Any) -> Iterator[Tally]:
    """Count what ``store`` (a SQLiteStore or PostgresStore) sends inside the block."""
    tally = Tally()
    if hasattr(store, "_pool"):
        with _counting_postgres(tally):
            yield tally
        return
    conn: sqlite3.Connection = store._connection()  # this thread's: the engine runs here
    last: list[str] = []

    def saw(sql: str) -> None:
        # SQLite calls back again as each trigger of a statement starts, and CPython passes
        # the statement's own text then (not SQLite's "-- TRIGGER" comment): a repeat of the
        # statement just seen is its triggers running, not another statement.
        if last != [sql]:
            tally.saw(sql)
        last[:] = [sql]

    conn.set_trace_callback(saw)
    try:
        yield tally
    finally:
        conn.set_trace_callback(None)


@contextmanager
def _counting_postgres(tally: Tally) -> Iterator[None]:
    from tfa_engine.store._postgres_pool import PooledConnection

    plain_execute = PooledConnection.execute
    plain_command = PooledConnection._exec_command

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        tally.saw(query if isinstance(query, str) else query.as_string(self))
        return plain_execute(self, query, *args, **kwargs)

    def command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        text = command.decode() if isinstance(command, bytes) else command.as_string(self)
        tally.saw(text)
        return (yield from plain_command(self, command, *args, **kwargs))

    PooledConnection.execute = execute  # type: ignore[method-assign, assignment]
    PooledConnection._exec_command = command  # type: ignore[method-assign]
    try:
        yield
    finally:
        PooledConnection.execute = plain_execute  # type: ignore[method-assign]
        PooledConnection._exec_command = plain_command  # type: ignore[method-assign]
