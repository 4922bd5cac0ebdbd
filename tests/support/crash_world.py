"""What outlives a crashed engine process, for the crash-point tests
(tests/engine/test_crash_points.py): the database (a fresh store object opens on the same
SQLite file or PostgreSQL schema, as a restarted process would), the clock, what the gateway
accepted, what the callback receiver got and what the clients were told.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from crash_points import (
    Call,
    Crash,
    CrashingGateway,
    CrashingStore,
    CrashingTransport,
    Plan,
    Post,
)
from fake_clock import FakeClock
from postgres_db import database_url, drop_schema, fresh_schema

from tfa_engine import Engine, EngineConfig, catalogue
from tfa_engine.config import PLACEHOLDER
from tfa_engine.gateways import SmsMessage
from tfa_engine.store import SQLiteStore, Store


class Database(ABC):
    """One database that outlives the processes using it."""

    @abstractmethod
    def open(self) -> Store:
        """A new store object on this database (a process starting)."""

    @abstractmethod
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a query, read beside the stores."""


class SQLiteDatabase(Database):
    """An SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> Store:
        return SQLiteStore(self.path)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()


class PostgresDatabase(Database):
    """A schema of the test PostgreSQL database (tests/support/postgres_db.py)."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self._reader: Any = None  # one connection for every query, opened on first use

    def open(self) -> Store:
        from tfa_engine.store.postgres import PostgresStore

        return PostgresStore(self.url, schema=self.schema, max_size=4)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self._reader is None:
            import psycopg

            self._reader = psycopg.connect(
                self.url, options=f"-c search_path={self.schema}", autocommit=True)
        return [tuple(row) for row in self._reader.execute(sql).fetchall()]

    def empty(self) -> None:
        """Delete every row but the schema's version: as good as new to a store."""
        tables = self.rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename <> 'tfa_schema'"
        )
        with self._reader.transaction():
            for (table,) in tables:
                # Names from the catalogue of the schema, not from any input.
                self._reader.execute(f'DELETE FROM "{table}"')  # noqa: S608

    def close(self) -> None:
        """Close the query connection."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class Databases:
    """Fresh databases of one backend: files in ``folder`` for ``sqlite``; for
    ``postgres``, schemas, emptied and handed out again once released (making one costs
    more than a test's own work). :meth:`close` removes them all."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self._folder = folder
        self._made = 0
        self._spare: list[PostgresDatabase] = []
        self._cleanup = ExitStack()

    def take(self) -> Database:
        """A database no process has used, or as good as new."""
        if self._spare:
            database = self._spare.pop()
            database.empty()
            return database
        self._made += 1
        if self.backend == "sqlite":
            return SQLiteDatabase(self._folder / f"crash-{self._made}.db")
        url, schema = database_url(), fresh_schema()
        self._cleanup.callback(drop_schema, url, schema)
        created = PostgresDatabase(url, schema)
        self._cleanup.callback(created.close)
        return created

    def release(self, database: Database) -> None:
        """``database`` is no longer used by any process."""
        if isinstance(database, PostgresDatabase):
            self._spare.append(database)

    def close(self) -> None:
        """Remove every database made."""
        self._cleanup.close()


@dataclass(frozen=True)
class Sent:
    """A 201 a client got: the client_ref, the message_id and when."""

    client_ref: str
    message_id: str
    at: float


class World:
    """One database and all that lives outside the engine's processes: the clock, what the
    gateway accepted, what the callback receiver got, what the clients were told, and the
    store calls that returned (:class:`Call`), whichever process made them."""

    phone = "+447911123456"
    callback_url = "https://93.184.216.34/cb"  # a public address: no DNS; the post is faked
    client_ip = "127.0.0.1"

    def __init__(self, database: Database, clock: FakeClock, config: EngineConfig) -> None:
        self.database = database
        self.clock = clock
        self.config = config
        self.ledger: list[Call] = []
        self.sms: list[SmsMessage] = []
        self.posts: list[Post] = []
        self.sent: list[Sent] = []
        self.refs: list[str] = []
        self.valid = 0  # "Valid" answers since the operation began
        self.dead: set[str] = set()  # the processes that crashed
        self.reports_overtake = False  # a delivery report comes before the gateway answers
        self.token = self.token_id = ""
        self._engines: dict[str, Engine] = {}
        self._reporter: Engine | None = None

    def engine(self, plan: Plan | None = None, *, statements: bool = False) -> Engine:
        """A new process: an engine on a new store object, every call a step of ``plan``
        (none: a process that will not crash)."""
        plan = plan or Plan()
        process = f"process-{len(self._engines) + 1}"
        store = CrashingStore(self.database.open(), plan, self.ledger, statements=statements)
        overtaken = self._report_early if self.reports_overtake else None
        engine = Engine(cast(Store, store), CrashingGateway(self.sms, plan, overtaken),
                        self.config, clock=self.clock, resolver=None)
        engine.callbacks.transport = CrashingTransport(self.posts, plan, process)
        engine.callbacks.concurrency = 1  # one post at a time: the same steps on every run
        self._engines[process] = engine
        return engine

    def run(self, engine: Engine, plan: Plan, work: Callable[[], object]) -> str | None:
        """Run ``work`` in ``engine``'s process; where it crashed (None: it completed). A
        crashed process is gone: its engine is closed and its posts count as a dead one's."""
        try:
            work()
        except Crash:
            self.dead.update(name for name, each in self._engines.items() if each is engine)
            plan.disarm()
            engine.close()
            return plan.crashed_at
        finally:
            plan.disarm()
        return None

    def request(self, engine: Engine, ref: str) -> catalogue.Status:
        """The client asks for a code for ``ref`` (with a callback URL)."""
        if ref not in self.refs:
            self.refs.append(ref)
        outcome = engine.request_code(self.token, self.client_ip, {
            "client_ref": ref, "phone_number": self.phone, "callback_url": self.callback_url})
        if outcome.status is catalogue.SUCCESS:
            self.sent.append(Sent(ref, str(outcome.result["message_id"]), self.clock()))
        return outcome.status

    def validate(self, engine: Engine, ref: str, code: str) -> catalogue.Status:
        """The client submits ``code`` for ``ref``."""
        outcome = engine.validate_code(self.token, self.client_ip, ref, code)
        if outcome.status is catalogue.VALID:
            self.valid += 1
        return outcome.status

    def report(self, engine: Engine, message_id: str, status: str = "DELIVRD") -> int:
        """The gateway posts a delivery report for ``message_id``."""
        return engine.record_delivery_reports([{
            "msisdn": self.phone.lstrip("+"), "delivery_status": status,
            "delivery_date": "2026-11-23 10:00:00", "uuid": message_id}])

    def code_of(self, message: SmsMessage) -> str:
        """The code an SMS carries."""
        start = len(self.config.default_template.split(PLACEHOLDER, 1)[0])
        return message.text[start:start + self.config.default_code_length]

    def background(self, engine: Engine) -> None:
        """What a live process does by itself: deliver the callbacks due, again once every
        claim's lease has run out (a callback delivered must not go again), then purge."""
        for _ in range(2):
            rounds = 0
            while engine.callbacks.run_once():
                rounds += 1
                assert rounds < 10, "callbacks keep coming due"
            self.clock.advance(self.config.callback_lease + 1)
        engine.purge()

    def close(self) -> None:
        """Stop every process still running."""
        for name, engine in self._engines.items():
            if name not in self.dead:
                engine.close()

    def _report_early(self, message: SmsMessage) -> None:
        # Another process takes the report (the dlr endpoint): no step of the plan.
        if self._reporter is None:
            self._reporter = self.engine()
        self.report(self._reporter, message.message_id)
