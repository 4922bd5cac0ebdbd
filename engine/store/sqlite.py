"""The default store: one SQLite file in WAL mode.

The statements are :mod:`.sql`'s; this module is SQLite's connections, transactions and
migrations. Each thread has its own connection in autocommit mode; a write that reads
first runs inside ``BEGIN IMMEDIATE``, which excludes every other writer of the file in
this process and in every other one, so several server processes on one file keep every
invariant. Writers queue before they reach SQLite's lock, whose busy handler sleeps 1, 2,
5, 10... ms between retries (under load that turned sub-millisecond writes into p99
latencies of hundreds of ms): those of this process on a thread lock, those of every
process on an ``flock`` of the file ``<database>.writer``, which the kernel hands to the
next waiter the moment it is released. Two server processes on one file served half as
many request-codes as one before writers queued across processes.

Commits are durable by default (``synchronous=FULL``): a 201 means the code is on disk,
even if the power fails a moment later. ``synchronous="NORMAL"`` survives a crash of the
process but may lose the last commits on power loss, for about a third of the cost.
Counters, callback bookkeeping and a code's insert never wait for the disk: the log is
written in order, so the next durable commit (a code's activation, before its 201) makes
them durable too.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._base import StoreError, StoreUnavailable
from ._sql import (
    CLIENT_REF,
    JOB_COLUMNS,
    MESSAGE_ID,
    TOKEN_DIGEST,
    TOKEN_ID,
    TOKEN_NAME,
    Violation,
)
from ._sql_store import SQLStore
from ._sqlite_schema import MIGRATIONS

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: one process per file there
    fcntl = None  # type: ignore[assignment]

__all__ = ["SYNCHRONOUS_MODES", "SQLiteStore"]

log = logging.getLogger("tfa.store")

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
# Result codes (and, before Python 3.11 names them, messages) of a file that cannot serve
# now but may again: busy past the timeout, full, read-only, I/O errors, unopenable.
_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_NOMEM", "SQLITE_READONLY",
                "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL")
_UNAVAILABLE_TEXT = ("locked", "out of memory", "readonly", "disk i/o error",
                     "database or disk is full", "unable to open")
# Free space readiness asks for on the database's file system, beyond what the next
# checkpoint adds to the database file (read at each check, see SQLiteStore.ping).
# Measured: one request-code appends 23 WAL frames (94,760 bytes; a frame is a page and a
# 24-byte header); 24 leave room for deeper indexes as tables grow. A verdict is reused for
# a second, in which several threads may each store one: the margin holds 8 request-codes,
# so that readiness turns 503 a few request-codes before they start failing. The WAL-index
# (-shm) takes another 32 KiB per 4096 frames, which a WAL that cannot be checkpointed
# reaches. At the default 4 KiB page: 804 KiB. A margin fixed for the worst checkpoint
# instead (the WAL is checkpointed at 1000 pages, SQLite's default: up to 4 MiB of new
# pages) would call a small disk full while it serves; the pages the WAL holds beyond the
# end of the file are what that checkpoint adds, and they are counted as they are.
REQUEST_CODE_FRAMES = 24
REQUEST_CODES_AHEAD = 8
WAL_FRAME_HEADER = 24
WAL_INDEX_BLOCK = 32 * 1024


def free_space_margin(page_size: int) -> int:
    """Bytes readiness keeps free for request-codes, with pages of ``page_size`` bytes."""
    return REQUEST_CODES_AHEAD * REQUEST_CODE_FRAMES * (page_size + WAL_FRAME_HEADER) \
        + WAL_INDEX_BLOCK


_CONSTRAINTS = {
    "codes.message_id": MESSAGE_ID,
    "codes.token_id, codes.client_ref": CLIENT_REF,
    "tokens.token_hash": TOKEN_DIGEST,
    "tokens.id": TOKEN_ID,
    "tokens.name": TOKEN_NAME,
}


def translate(exc: sqlite3.Error) -> StoreError:
    """The store error standing for an SQLite error."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        failed = text.partition("UNIQUE constraint failed: ")[2]
        return Violation(_CONSTRAINTS.get(failed), text)
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(_UNAVAILABLE) or any(t in text.lower() for t in _UNAVAILABLE_TEXT):
        return StoreUnavailable(f"the database cannot serve now: {text}")
    return StoreError(f"database error: {text}")


def _writable(path: str) -> bool:
    """False when ``path`` exists and this process may not write it (by its effective ids,
    as the kernel judges an open: root may write a file whose mode says read-only)."""
    effective = os.access in os.supports_effective_ids
    return not os.path.exists(path) or os.access(path, os.W_OK, effective_ids=effective)


class SQLiteStore(SQLStore):
    """Store in one SQLite file (created and migrated on first use)."""

    def __init__(
        self, path: str | Path, *, busy_timeout: float = 5.0, synchronous: str = "FULL"
    ) -> None:
        if sqlite3.sqlite_version_info < (3, 35):
            raise StoreError(f"SQLite 3.35 or newer is needed (this is {sqlite3.sqlite_version})")
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        self.path = str(path)
        self.synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._exclusive = threading.Lock()
        self._writer: int | None = None  # the descriptor of <database>.writer, once opened
        self._writer_pid = 0  # the process that opened it (or failed to)
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections -----------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self._busy_timeout,
                    isolation_level=None,  # autocommit; transactions are explicit
                    check_same_thread=False,  # close() may run on another thread
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise translate(exc) from None
            self._local.conn = conn
            self._local.durable = True
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _durability(self, conn: sqlite3.Connection, durable: bool) -> None:
        if durable != self._local.durable and self.synchronous != "NORMAL":
            mode = self.synchronous if durable else "NORMAL"
            conn.execute(f"PRAGMA synchronous={mode}")
            self._local.durable = durable

    def _forget_connection(self) -> None:
        """Drop this thread's connection after a failure that may have left it unusable (a
        transaction that could not roll back): the next call opens a fresh one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._connections_lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            error = translate(exc)
            if isinstance(error, StoreUnavailable):
                self._forget_connection()
            raise error from None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            yield self._connection()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """This process's turn to write, then (where ``flock`` exists) every process's.

        Only the thread holding the thread lock waits for the file lock, and with no time
        limit (the kernel releases it when its holder ends); the others give up after the
        busy timeout, as SQLite's own busy handler would.
        """
        if not self._write_lock.acquire(timeout=self._busy_timeout):
            raise StoreUnavailable(
                f"the database is busy: no turn to write within {self._busy_timeout:g} s")
        try:
            writer = self._writer_file()
            if writer is None:
                yield
                return
            fcntl.flock(writer, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(writer, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _writer_file(self) -> int | None:
        """The descriptor to ``flock`` around writes (opened once per process; a fork
        would share its lock), or None where it cannot be had: the queue only saves
        waiting, BEGIN IMMEDIATE keeps the invariants without it."""
        if fcntl is None:
            return None
        if self._writer is None or self._writer_pid != os.getpid():
            self._writer_pid = os.getpid()
            try:  # read-only is enough to flock, whoever created the file
                self._writer = os.open(self.path + ".writer",
                                       os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                log.warning("writers of %s queue in SQLite only: %s", self.path, exc)
                self._writer = None
        return self._writer

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self._errors():
            conn = self._connection()  # a thread's first use connects: not under the lock
            with self._writing():
                self._durability(conn, durable)
                yield conn

    @contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self._errors():
            conn = self._connection()
            with self._writing():
                self._durability(conn, durable)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")

    def _claim(self, conn: Any, now: float, limit: int, lease: float, claim: str) -> list[Any]:
        # The write transaction excludes every other claimer: one statement claims, the
        # next reads what it claimed.
        conn.execute(
            "UPDATE outbox SET next_attempt_at = :until, claim = :claim WHERE id IN"
            " (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= :now"
            " ORDER BY id LIMIT :n)",
            {"until": now + lease, "claim": claim, "now": now, "n": limit},
        )
        return list(conn.execute(
            f"SELECT {JOB_COLUMNS} FROM outbox o LEFT JOIN codes c"  # noqa: S608
            " ON c.message_id = o.message_id WHERE o.state = 'pending' AND o.claim = :claim"
            " AND o.next_attempt_at = :until ORDER BY o.id",
            {"until": now + lease, "claim": claim},
        ).fetchall())

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        # A lock file beside the database: every process with the file meets it, and it
        # never holds SQLite's own write lock while the work inside writes.
        with self._exclusive, open(self.path + ".lock", "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- schema ----------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this release"
                )
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(conn)
                conn.execute(f"PRAGMA user_version={number}")

    # -- readiness -------------------------------------------------------------------------
    def ping(self, now: float) -> None:
        # Ready means a request-code would be stored now, found without writing: the file
        # system takes writes, the files may be written, and there is room for the
        # request-code's WAL frames plus what the next checkpoint adds to the database file.
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            disk = os.statvfs(directory)
        except OSError as exc:
            raise StoreUnavailable(f"the database cannot serve now: {exc}") from None
        if disk.f_flag & os.ST_RDONLY:
            raise StoreUnavailable(
                f"the database cannot serve now: {directory} is on a read-only file system")
        for name in (directory, self.path, self.path + "-wal", self.path + "-shm"):
            if not _writable(name):
                raise StoreUnavailable(f"the database cannot serve now: {name} is read-only")
        with self._read() as conn:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        try:
            on_disk = os.stat(self.path).st_size
        except OSError as exc:
            raise StoreUnavailable(f"the database cannot serve now: {exc}") from None
        needed = free_space_margin(page_size) + max(0, pages * page_size - on_disk)
        free = disk.f_bavail * disk.f_frsize
        if free < needed:
            raise StoreUnavailable(
                f"the database cannot serve now: {free} bytes free on its disk,"
                f" readiness asks for {needed}")

    def schema_version(self) -> int:
        """The migration level of the file."""
        with self._read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        with self._write_lock:
            if self._writer is not None and self._writer_pid == os.getpid():
                os.close(self._writer)
            self._writer = None
