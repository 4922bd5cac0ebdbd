"""The store on PostgreSQL, for several processes and hosts sharing one database.

The statements are :mod:`.sql`'s; this module is PostgreSQL's connections (a psycopg 3
pool, see :mod:`.postgres_pool`, each connection checked on checkout so requests recover by
themselves within a second of the server's return),
transactions, locks, error mapping and migrations. Connections run at READ COMMITTED in
autocommit mode: a single statement is atomic, a conditional UPDATE re-checks its WHERE on
the row version it waited for, and every read-then-write runs in a transaction that first
takes a transaction-scoped advisory lock on what it reads (a phone's codes, a rate-limit
key). Needs the ``postgres`` extra (psycopg and psycopg_pool), imported only here.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ._base import StoreError, StoreUnavailable
from ._postgres_pool import Pool, PooledConnection
from ._postgres_schema import MIGRATIONS, SCHEMA_LOCK
from ._sql import JOB_COLUMNS, PLANNED_EACH_TIME, Cursor, Violation, pyformat
from ._sql_store import SQLStore

__all__ = ["PostgresStore"]

# Seconds one connection attempt may take, unless the URL says (libpq waits forever by
# default: an unreachable host would hold a pool worker for minutes of TCP retries).
CONNECT_TIMEOUT = 3
READY_WAIT = 1.0  # seconds a readiness check waits for a connection
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_CLAIM = (
    "WITH claimed AS (UPDATE outbox SET next_attempt_at = :until, claim = :claim WHERE id IN"  # noqa: S608
    " (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= :now"
    " ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING *)"
    f" SELECT {JOB_COLUMNS} FROM claimed o LEFT JOIN codes c ON c.message_id = o.message_id"
)


def translate(exc: Exception) -> StoreError:
    """The store error standing for a psycopg or pool error."""
    if isinstance(exc, psycopg.errors.IntegrityError):
        return Violation(exc.diag.constraint_name, str(exc).strip())
    if isinstance(exc, (psycopg.OperationalError, PoolTimeout)):
        return StoreUnavailable(f"the database cannot serve now: {str(exc).strip()}")
    return StoreError(f"database error: {str(exc).strip()}")


def _quiet(conn: psycopg.Connection[Any]) -> bool:
    """True when an idle connection has nothing to read: a server that shut down or ended
    the session has written to it (the error that says so) or closed it, both of which
    make it readable. Costs no round trip, where the pool's check costs one (an empty
    query) per checkout; a connection that is not quiet gets that check."""
    if conn.closed or conn.broken:
        return False
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError, AttributeError, psycopg.Error):
        return False


class _Connection:
    """A pooled connection taking the shared statements' ``:name`` parameters."""

    def __init__(self, conn: psycopg.Connection[Any], *, asynchronous: bool = False) -> None:
        self._conn = conn
        # A transaction whose commit need not wait for the disk, not yet told so: the first
        # lock says it in the same statement (no round trip of its own), else the first
        # statement is preceded by a SET LOCAL.
        self.asynchronous = asynchronous

    def asynchronous_clause(self) -> str:
        """What a SELECT adds to say that the commit need not wait, once: empty when it
        was said already, or need not be."""
        if not self.asynchronous:
            return ""
        self.asynchronous = False
        return ", set_config('synchronous_commit', 'off', true)"

    def execute(self, sql: str, parameters: Any = None, /) -> Cursor:
        if self.asynchronous:
            self.asynchronous = False
            self._conn.execute("SET LOCAL synchronous_commit TO OFF")
        # psycopg prepares a statement run five times, and PostgreSQL may then keep one
        # generic plan for it; those marked PLANNED_EACH_TIME are planned for their values.
        prepare = False if sql.startswith(PLANNED_EACH_TIME) else None
        cursor: Cursor = self._conn.execute(pyformat(sql), parameters or {}, prepare=prepare)
        return cursor


class PostgresStore(SQLStore):
    """Store in a PostgreSQL database (its tables created and migrated on first use).

    ``url`` is a libpq connection URL (``postgresql://user:secret@host/db``). ``schema``
    puts the tables in a schema of their own (created if missing). ``max_size`` bounds the
    pool: give it at least the server's threads plus two, and the database server at least
    ``max_size`` connections per process. ``timeout`` is how long a request waits for a
    connection before the store counts as unavailable.
    """

    joined_writes = True

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 40,
        timeout: float = 5.0,
    ) -> None:
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema {schema!r} is not a plain lower-case SQL name")
        self.url = url
        self.schema = schema
        self._timeout = timeout
        kwargs: dict[str, Any] = {"autocommit": True}
        if schema is not None:
            kwargs["options"] = f"-c search_path={schema}"
        try:
            if "connect_timeout" not in conninfo_to_dict(url):
                kwargs["connect_timeout"] = CONNECT_TIMEOUT
            self._pool = Pool(
                url, kwargs=kwargs, min_size=min_size, max_size=max_size, timeout=timeout,
                open=True,
            )
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc) from None
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections -----------------------------------------------------------------------
    @contextmanager
    def _connect(self, wait: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A working connection, waited for ``wait`` seconds at most (the store's
        ``timeout`` by default), given back to the pool afterwards."""
        wait = self._timeout if wait is None else wait
        try:
            conn = self._checkout(wait)
            try:
                with conn:  # commits or rolls back; a pooled connection stays open
                    yield conn
            finally:
                self._pool.putconn(conn)
        except PoolTimeout:
            cause = self._pool.cause
            raise StoreUnavailable(
                f"the database cannot serve now: no connection within {wait:g} s"
                + (f"; connecting fails: {cause}" if cause else "")
            ) from None
        except psycopg.Error as exc:
            raise translate(exc) from None

    def _checkout(self, wait: float) -> PooledConnection:
        """A connection from the pool that answers, within ``wait`` seconds (PoolTimeout
        otherwise). One that does not is handed back (the pool replaces it at once) and,
        since whatever broke it (a restart of the server) broke the idle ones too, they are
        swept out then: the pool's own check on checkout would pause a second or more
        after each dead connection it met."""
        deadline = time.monotonic() + wait
        while True:
            conn = self._pool.getconn(max(deadline - time.monotonic(), 0.0))
            if _quiet(conn):
                return conn
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self._pool.putconn(conn)
                self._pool.check()
                continue
            return conn

    @contextmanager
    def _read(self) -> Iterator[_Connection]:
        with self._connect() as conn:
            yield _Connection(conn)

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[_Connection]:
        # Single statements always wait for their commit to be durable: saying that one need
        # not (a code's insert, callback bookkeeping) would cost more round trips than the
        # commit's flush, which the server shares between concurrent commits.
        with self._connect() as conn:
            yield _Connection(conn)

    @contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[_Connection]:
        with self._connect() as conn, conn.transaction():
            yield _Connection(conn, asynchronous=not durable)

    def _lock(self, conn: Any, *names: str) -> None:
        setting = conn.asynchronous_clause()
        if len(names) == 1:
            conn.execute(f"SELECT pg_advisory_xact_lock(hashtextextended(:n, 0)){setting}",
                         {"n": names[0]})
            return
        # In one order (the keys' own), so that two transactions never wait on each other.
        conn.execute(
            f"SELECT pg_advisory_xact_lock(k){setting} FROM (SELECT DISTINCT"  # noqa: S608
            " hashtextextended(n, 0) AS k FROM unnest(CAST(:names AS text[])) AS n"
            " ORDER BY k) AS ordered",
            {"names": list(names)},
        )

    def _lock_phone_of(self, conn: Any, code_id: int) -> tuple[str, str] | None:
        # The name _lock would hash, built from the row: no round trip to read it first.
        row = conn.execute(
            "SELECT token_id, phone, pg_advisory_xact_lock(hashtextextended('phone:'"
            " || token_id || chr(31) || phone, 0)) FROM codes WHERE id = :id",
            {"id": code_id},
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _claim(self, conn: Any, now: float, limit: int, lease: float, claim: str) -> list[Any]:
        # One statement: rows another claimer holds are skipped, not waited for.
        return list(conn.execute(
            _CLAIM, {"until": now + lease, "now": now, "n": limit, "claim": claim}
        ).fetchall())

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        # A session lock on a connection of its own, held while the work inside uses others.
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))

    # -- schema ----------------------------------------------------------------------------
    def _migrate(self) -> None:
        # One transaction under one lock: servers starting together on an empty database
        # wait for the first, then find the schema made; a crash leaves none half made.
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            if self.schema is not None:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute("CREATE TABLE IF NOT EXISTS tfa_schema (version integer NOT NULL)")
            row = conn.execute("SELECT version FROM tfa_schema").fetchone()
            version = 0 if row is None else int(row[0])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the database has schema version {version}, newer than this release"
                )
            for migration in MIGRATIONS[version:]:
                for statement in migration:
                    conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO tfa_schema (version) VALUES (%s)", (len(MIGRATIONS),))
            else:
                conn.execute("UPDATE tfa_schema SET version = %s", (len(MIGRATIONS),))

    # -- readiness -------------------------------------------------------------------------
    def ping(self, now: float) -> None:
        # Without writing: a connection within READY_WAIT that may write (not a standby,
        # not a read-only default).
        with self._connect(READY_WAIT) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
            ).fetchone()
        if row is None or row[0]:
            raise StoreUnavailable("the database cannot serve now: it is read-only")

    def schema_version(self) -> int:
        """The migration level of the database."""
        with self._read() as conn:
            return int(conn.execute("SELECT version FROM tfa_schema").fetchone()[0])

    def close(self) -> None:
        self._pool.close()
