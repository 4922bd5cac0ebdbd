"""Starting many processes at once, and the WSGI application under another server.

The figures:
    9. Eight ``tfa serve`` started at once on an empty PostgreSQL schema, all with one
       TFA_CONFIG file declaring one token: all 8 announce, the tokens table holds exactly
       one token, and each of the 8 servers accepts it (201).
   12. The README's gunicorn command (``--workers 2``) on an SQLite file: request-code
       201, then the code from the console gateway validates (0, Valid).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg
import pytest
from fleet import (
    Database,
    Fleet,
    fleet_environ,
    new_phone,
    new_ref,
    postgres_database,
    processes,
    serve_command,
    tokens_toml,
)
from loopback import free_port
from postgres_db import schema_url
from tfa_processes import START_TIMEOUT, TfaProcess

from tfa_engine import catalogue
from tfa_engine.store._postgres_schema import SCHEMA_LOCK

pytestmark = pytest.mark.network

SERVERS = 8
TOKEN = "2b8e4f6a-0c1d-4e3f-8a5b-7c9d1e2f3a4b"
SUCCESS = (catalogue.SUCCESS.http, catalogue.SUCCESS.code)
VALID = (catalogue.VALID.http, catalogue.VALID.code)


# -- 9. a declared token, installed once by eight servers starting together -------------------
def waiting_for_advisory_locks(url: str) -> int:
    """How many sessions of the database at ``url`` wait for an advisory lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0]) if row else 0


def test_eight_servers_starting_at_once_install_one_declared_token(tmp_path: Path) -> None:
    """8 servers on an empty schema, one declared token: all start, 1 token, all accept it.

    As on a real empty database, the first server to migrate holds the schema lock while
    the others queue behind it; here the test holds it until all 8 queue, so that they
    all go on to declare the token at the same moment.
    """
    config = tmp_path / "tokens.toml"
    config.write_text(tokens_toml({"shop": TOKEN}), encoding="utf-8")
    with postgres_database() as url, psycopg.connect(url, autocommit=True) as holder:
        holder.execute('CREATE SCHEMA "empty"')
        database = schema_url(url, "empty")
        db = Database(database)
        assert db.value(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'empty'"
        ) == 0
        holder.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))

        def release_when_all_queue() -> None:
            deadline = time.monotonic() + START_TIMEOUT
            while waiting_for_advisory_locks(url) < SERVERS:
                assert time.monotonic() < deadline, "the servers never queued for the schema"
                time.sleep(0.05)
            holder.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

        env = fleet_environ(database, TFA_CONFIG=str(config), TFA_RATE_LIMITS="off")
        commands = [serve_command("--threads", "4") for _ in range(SERVERS)]
        with processes(commands, tmp_path, env, spawned=release_when_all_queue) as servers:
            assert len({server.base_url for server in servers}) == SERVERS
            tokens = db.rows("SELECT name, revoked_at FROM tokens")
            fleet = Fleet("eight", servers, db, {"shop": TOKEN})
            replies = [
                fleet.request_code(number, "shop", new_ref("eight"), new_phone())
                for number in range(SERVERS)
            ]
    assert tokens == [("shop", None)]
    assert [reply.outcome for reply in replies] == [SUCCESS] * SERVERS


# -- 12. the WSGI application under gunicorn --------------------------------------------------
def gunicorn_command(port: int) -> list[str]:
    """The README's command, with the gunicorn installed beside this interpreter."""
    script = Path(sys.executable).with_name("gunicorn")
    gunicorn = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [*gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{port}",
            "tfa_engine.adapters.server.wsgi:application"]


def test_gunicorn_serves_the_wsgi_application(tmp_path: Path) -> None:
    """gunicorn --workers 2 on the WSGI application: a code is sent (201) and validates."""
    config = tmp_path / "tokens.toml"
    config.write_text(tokens_toml({"shop": TOKEN}), encoding="utf-8")
    env = fleet_environ(str(tmp_path / "tfa.db"), TFA_CONFIG=str(config))
    server = TfaProcess.announced(
        gunicorn_command(free_port()), cwd=tmp_path, env=env, name="gunicorn",
        pattern=r"Listening at: (http://\S+)",
    )
    try:
        server.wait_until(
            lambda lines: sum("Booting worker" in line for line in lines) == 2 or None,
            "two workers booted",
        )
        fleet = Fleet("gunicorn", [server], Database(str(tmp_path / "tfa.db")), {"shop": TOKEN})
        client_ref, phone = new_ref("gunicorn"), new_phone()
        sent = fleet.request_code(0, "shop", client_ref, phone)
        assert sent.outcome == SUCCESS, sent.body
        valid = fleet.validate(0, "shop", client_ref, fleet.sms_code(phone))
        assert valid.outcome == VALID, valid.body
    finally:
        server.stop()
