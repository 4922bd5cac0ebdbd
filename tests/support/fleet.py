"""Several `tfa` processes on one database, for the scale-out tests.

Importable from every test directory. A :class:`Fleet` is what a client sees of one
deployment: the addresses to spread requests over, the declared tokens, the SMS lines of
every process (console gateway), the worker processes behind a shared socket, and a
read-only view of the database (PostgreSQL schema or SQLite file) to check what was stored.

Requests go through tests/support/parallel_http.py; the :class:`Reply` says which process
answered (by port for separate servers, by the owner of the accepted socket for workers
sharing one port), and :meth:`Fleet.alternating` makes a batch take turns between them.
"""

from __future__ import annotations

import http.client
import itertools
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from parallel_http import Reply, call, exchange, in_parallel, worker_connections
from tfa_processes import START_TIMEOUT, TfaProcess, clean_environ, tfa_command

CALLBACK_KEY = "scale-out-callback-key-0123456789abcdef"  # the same on every process
SMS_LINE = re.compile(r"SMS to (\+\d+) from [^:]*: .*?\b(\d{6})\b")
WORKER_LINE = re.compile(r"worker (\d+) started \(pid (\d+)\)")
_phones = itertools.count(int(uuid.uuid4().int % 900_000))


def new_phone() -> str:
    """A German mobile number (E.164) no other call of this process returned."""
    return f"+4915123{next(_phones) % 1_000_000:06d}"


def new_ref(label: str) -> str:
    """A client_ref no other test uses."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


# -- the database as the tests read it ------------------------------------------------------
class Database:
    """Read access to a deployment's tables: a PostgreSQL URL (whose search_path names the
    schema) or an SQLite file. Statements use ``?`` placeholders."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.postgres = location.startswith(("postgresql://", "postgres://"))

    def rows(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        """Every row ``sql`` selects."""
        if self.postgres:
            import psycopg

            with psycopg.connect(self.location, autocommit=True, connect_timeout=10) as conn:
                return [tuple(row) for row in conn.execute(sql.replace("?", "%s"), parameters)]
        connection = sqlite3.connect(self.location, timeout=10)
        try:
            return [tuple(row) for row in connection.execute(sql, parameters)]
        finally:
            connection.close()

    def value(self, sql: str, *parameters: Any) -> Any:
        """The first column of the one row ``sql`` selects."""
        (row,) = self.rows(sql, *parameters)
        return row[0]


# -- a deployment ---------------------------------------------------------------------------
def tokens_toml(tokens: Mapping[str, str]) -> str:
    """A configuration file declaring ``{name: token}``."""
    return "".join(
        f'[[tokens]]\nname = "{name}"\ntoken = "{token}"\n\n' for name, token in tokens.items()
    )


def fleet_environ(database: str, **variables: str) -> dict[str, str]:
    """Settings every process of a deployment shares: its database, the console gateway,
    cheap hashing, one callback key, unbuffered output; then ``variables``."""
    env = clean_environ()
    env.update(
        TFA_DATABASE=database,
        TFA_GATEWAY="console",
        TFA_ARGON2_PROFILE="test",
        TFA_CALLBACK_KEY=CALLBACK_KEY,
        PYTHONUNBUFFERED="1",
    )
    env.update(variables)
    return env


def serve_command(*options: str) -> list[str]:
    """``tfa serve`` on 127.0.0.1, a free port, with ``options``."""
    return [*tfa_command(), "serve", "--host", "127.0.0.1", "--port", "0", *options]


@contextmanager
def processes(
    commands: Sequence[Sequence[str]],
    cwd: Path,
    env: Mapping[str, str],
    name: str = "tfa serve",
    spawned: Callable[[], None] = lambda: None,
) -> Iterator[list[TfaProcess]]:
    """Start every command at once, call ``spawned()``, then wait for each to announce its
    address; all are stopped (SIGTERM, else killed) on the way out."""
    with ExitStack() as stack:
        started: list[TfaProcess] = []
        for number, command in enumerate(commands, start=1):
            process = TfaProcess(command, cwd=cwd, env=env, name=f"{name} #{number}")
            stack.callback(process.stop)
            started.append(process)
        spawned()
        for process in started:
            process.base_url = process.wait_for(r"tfa serving on (http://\S+)", START_TIMEOUT)[1]
        yield started


@dataclass
class Fleet:
    """One deployment as its clients and the tests see it."""

    kind: str
    processes: list[TfaProcess]
    database: Database
    tokens: dict[str, str]  # declared name -> token
    worker_pids: list[int] = field(default_factory=list)  # workers behind one port
    # Request number -> (worker, open connection it accepted), while ``alternating``.
    _assigned: dict[int, tuple[int, http.client.HTTPConnection]] = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        """The addresses requests are spread over (one per server process)."""
        return [process.base_url for process in self.processes]

    def url(self, number: int) -> str:
        """The address of request ``number``: the servers take turns."""
        return self.urls[number % len(self.urls)]

    def server_of(self, reply: Reply, number: int) -> str:
        """Which process served request ``number``: a worker's pid or a server's port."""
        if self.worker_pids:
            return f"pid {reply.pid}"
        return f"port {urlsplit(self.url(number)).port}"

    @contextmanager
    def alternating(self, count: int) -> Iterator[None]:
        """Inside, requests ``0 .. count - 1`` take turns between the processes: separate
        servers by their addresses; workers sharing a port over connections opened first,
        each accepted by the worker whose turn it is."""
        if not self.worker_pids:
            yield
            return
        turns = len(self.worker_pids)
        pools = worker_connections(self.urls[0], self.worker_pids, -(-count // turns))
        for number in range(count):
            pid = self.worker_pids[number % turns]
            self._assigned[number] = (pid, pools[pid][number // turns])
        try:
            yield
        finally:
            self._assigned.clear()
            for pool in pools.values():
                for connection in pool:
                    connection.close()

    def call(self, number: int, method: str, path: str, token: str, body: Any = None) -> Reply:
        """Request ``number``, sent to its turn's process as ``token``."""
        assigned = self._assigned.pop(number, None)
        if assigned is None:
            return call(self.url(number), method, path, token=self.tokens[token], body=body,
                        owners=self.worker_pids)
        pid, connection = assigned
        accepted = connection.sock
        reply = exchange(connection, method, path, token=self.tokens[token], body=body)
        # The same socket throughout (never reopened): the worker that accepted it answered.
        assert accepted is not None and connection.sock is accepted, f"request {number}"
        return replace(reply, pid=pid)

    def request_code(self, number: int, token: str, client_ref: str, phone: str,
                     **fields: Any) -> Reply:
        """``POST /1/2fa``."""
        body = {"client_ref": client_ref, "phone_number": phone, **fields}
        return self.call(number, "POST", "/1/2fa", token, body)

    def validate(self, number: int, token: str, client_ref: str, code: str) -> Reply:
        """``POST /1/2fa/{client_ref}/{code}``."""
        return self.call(number, "POST", f"/1/2fa/{client_ref}/{code}", token)

    def sms_code(self, phone: str, timeout: float = 10.0) -> str:
        """The code of the last SMS to ``phone`` that any process printed."""
        deadline = time.monotonic() + timeout
        while True:
            for process in self.processes:
                for line in reversed(process.output().splitlines()):
                    if (m := SMS_LINE.search(line)) and m[1] == phone:
                        return m[2]
            if time.monotonic() > deadline:
                raise AssertionError(f"no SMS to {phone} within {timeout}s")
            time.sleep(0.02)


KINDS = ("two-servers-pg", "workers-sqlite", "workers-pg")
"""Deployments: two ``tfa serve`` on one PostgreSQL schema, requests taking turns; one
``tfa serve --workers 2`` on an SQLite file; the same on a PostgreSQL schema."""


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test database whose search_path is a new empty schema, dropped after."""
    import psycopg
    from postgres_db import database_url, drop_schema, fresh_schema, schema_url

    url = database_url()
    schema = fresh_schema()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(url, schema)
    finally:
        drop_schema(url, schema)


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards (advisory
    locks are per database: what a test holds there blocks no one else's)."""
    import psycopg
    from postgres_db import database_url, fresh_schema

    url = database_url()
    name = fresh_schema()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def start_fleet(
    kind: str, workdir: Path, token_names: Sequence[str], threads: int = 16, **variables: str
) -> Iterator[Fleet]:
    """A deployment of ``kind`` (see :data:`KINDS`) declaring one token per name in a
    TFA_CONFIG file; ``variables`` add settings. Its processes are stopped and its schema
    dropped on the way out."""
    assert kind in KINDS, kind
    tokens = {name: str(uuid.uuid4()) for name in token_names}
    config = workdir / "tokens.toml"
    config.write_text(tokens_toml(tokens), encoding="utf-8")
    with ExitStack() as stack:
        if kind.endswith("-pg"):
            database = stack.enter_context(postgres_schema())
        else:
            database = str(workdir / "tfa.db")
        env = fleet_environ(database, TFA_CONFIG=str(config), **variables)
        options = ["--threads", str(threads)]
        if kind.startswith("workers"):
            commands = [serve_command(*options, "--workers", "2")]
        else:
            commands = [serve_command(*options), serve_command(*options)]
        started = stack.enter_context(processes(commands, workdir, env))
        fleet = Fleet(kind, started, Database(database), tokens)
        if kind.startswith("workers"):
            workers = started[0].wait_until(
                lambda lines: found if len(found := {
                    int(m[2]) for line in lines if (m := WORKER_LINE.search(line))
                }) == 2 else None,
                "two workers started",
            )
            fleet.worker_pids = sorted(workers)
            await_workers(fleet)
        yield fleet


def await_workers(fleet: Fleet, timeout: float = START_TIMEOUT) -> None:
    """Wait until every worker has answered a health check: a worker is forked at once but
    serves only once its engine is built, and until then the others take every request."""
    deadline = time.monotonic() + timeout
    seen: set[int] = set()
    while seen != set(fleet.worker_pids):
        assert time.monotonic() < deadline, f"workers that never answered: {fleet.worker_pids}"
        replies = in_parallel(8, lambda n: call(
            fleet.urls[0], "GET", "/health", owners=fleet.worker_pids, envelope=False
        ))
        seen.update(reply.pid for reply in replies if reply.http == 200)
        seen.discard(0)
