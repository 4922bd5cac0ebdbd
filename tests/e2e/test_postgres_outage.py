"""A PostgreSQL outage under a running ``tfa serve``: how soon service returns, and what
the log says about it.

The tests take down throwaway clusters of their own (dev/postgres.py). In the
first, one client requests codes back to back while the database is stopped for 10 s and
started again. The pool's reconnection back-off is the same whatever the outage's length
(attempts at most ``RECONNECT_DELAY`` apart), so 10 s shows what a 45 s outage does. In
the second, nobody asks while the database restarts, so every idle connection of the pool
is dead when the next request comes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet import Database, Fleet, fleet_environ, new_phone, new_ref, processes, serve_command
from parallel_http import in_parallel

from dev.postgres import Cluster, throwaway_cluster
from tfa_engine import catalogue

pytestmark = [pytest.mark.network, pytest.mark.slow]  # a database outage

DOWN_FOR = 10.0  # seconds the database stays stopped
RECOVERY_BOUND = 2.0  # the acceptance criterion: first 2xx within this of the database's return
RECOVERY_TIMEOUT = 30.0  # give up waiting for any 2xx (the old back-off took up to 15 s)
IDLE_CONNECTIONS = 8  # requests at once before a quiet restart: the pool keeps that many
TOKEN = "3b8f6a2e-5c1d-4e7a-9f0b-2d4c6e8a1b3c"
SUCCESS = (catalogue.SUCCESS.http, catalogue.SUCCESS.code)
# What libpq or the server says when the database goes away, as opposed to the pool's own
# "couldn't get a connection after 5.00 sec", which names no cause.
CAUSE = re.compile(r"refused|terminat|closed the connection|shutting down|starting up|No such")


@dataclass(frozen=True)
class Answer:
    """One request of the polling client: when it started and ended, and its outcome."""

    started: float
    ended: float
    outcome: tuple[int, int] | None


@dataclass(frozen=True)
class Outage:
    """What one outage looked like from outside: the client's answers, when the database
    came back, and the server's log lines from just before it went down."""

    answers: list[Answer]
    up: float
    log: list[str]


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """A real ``tfa serve`` on a throwaway cluster stopped for ``DOWN_FOR`` seconds while a
    client polls; collected once, judged by the tests below."""
    with one_server(tmp_path_factory.mktemp("pg-outage"), "outage") as (cluster, fleet):
        yield poll_through_outage(cluster, fleet)


@contextmanager
def one_server(workdir: Path, name: str) -> Iterator[tuple[Cluster, Fleet]]:
    """A throwaway cluster and one ``tfa serve`` on it (8 threads, no rate limits) whose
    settings file declares the token ``shop``; both stopped when the block ends."""
    config = workdir / "tokens.toml"
    config.write_text(f'[[tokens]]\nname = "shop"\ntoken = "{TOKEN}"\n', encoding="utf-8")
    with throwaway_cluster() as cluster:
        env = fleet_environ(cluster.url, TFA_CONFIG=str(config), TFA_RATE_LIMITS="off")
        with processes([serve_command("--threads", "8")], workdir, env) as (server,):
            yield cluster, Fleet(name, [server], Database(cluster.url), {"shop": TOKEN})


def poll_through_outage(cluster: Cluster, fleet: Fleet) -> Outage:
    """Stop the database under a polling client, start it again, and wait for a 2xx."""
    (server,) = fleet.processes
    answers: list[Answer] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            started = time.time()
            try:
                reply = fleet.request_code(0, "shop", new_ref("poll"), new_phone())
                answers.append(Answer(started, time.time(), reply.outcome))
            except OSError:
                answers.append(Answer(started, time.time(), None))

    client = threading.Thread(target=poll, daemon=True)
    client.start()
    try:
        time.sleep(1.0)  # the client is served before the outage
        mark = server.mark()
        cluster.stop("fast")
        time.sleep(DOWN_FOR)
        cluster.start()  # pg_ctl -w: returns once the server accepts connections
        up = time.time()
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while time.monotonic() < deadline and not any(
            a.ended > up and a.outcome == SUCCESS for a in list(answers)
        ):
            time.sleep(0.05)
        time.sleep(0.5)  # lines written as service returns
    finally:
        stop.set()
        client.join(timeout=30.0)
    assert not client.is_alive()
    return Outage(answers, up, server.output().splitlines()[mark:])


def test_service_returns_within_2_s_of_the_database(outage: Outage) -> None:
    """The first 201 after PostgreSQL is back comes within 2 s of its return."""
    back = [a.ended for a in outage.answers if a.ended > outage.up and a.outcome == SUCCESS]
    assert back, f"no 201 within {RECOVERY_TIMEOUT} s of the database's return"
    assert min(back) - outage.up <= RECOVERY_BOUND, f"first 201 {min(back) - outage.up:.2f} s"


def test_the_outage_is_logged_once_with_its_cause(outage: Outage) -> None:
    """One warning line says the store is unavailable and why (libpq's or the server's
    words), not only that no connection came."""
    lines = [line for line in outage.log if "store unavailable" in line]
    assert len(lines) == 1, lines
    assert CAUSE.search(lines[0]), lines[0]


def test_the_pool_library_does_not_flood_the_log(outage: Outage) -> None:
    """psycopg_pool's warning per failed reconnection attempt stays out of the log."""
    pool_lines = [line for line in outage.log if "psycopg" in line]
    assert pool_lines == []


def test_the_return_is_logged_once(outage: Outage) -> None:
    """One line says the store is available again and after how long."""
    lines = [line for line in outage.log if "available again" in line]
    assert len(lines) == 1, lines
    assert re.search(r"store available again after \d+(\.\d+)? s", lines[0]), lines[0]


def test_the_first_request_after_a_quiet_restart_is_served_at_once(tmp_path: Path) -> None:
    """The database restarts while nobody asks, leaving every idle connection of the pool
    dead: the next request-code is a 201 within 2 s all the same."""
    with one_server(tmp_path, "quiet") as (cluster, fleet):
        replies = in_parallel(IDLE_CONNECTIONS, lambda n: fleet.request_code(
            n, "shop", new_ref("busy"), new_phone()))
        assert {reply.outcome for reply in replies} == {SUCCESS}
        cluster.stop("fast")
        cluster.start()
        started = time.monotonic()
        reply = fleet.request_code(0, "shop", new_ref("after"), new_phone())
        took = time.monotonic() - started
    assert reply.outcome == SUCCESS
    assert took <= RECOVERY_BOUND, f"{took:.2f} s"
