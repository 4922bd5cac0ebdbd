"""PostgreSQL going down and coming back under a running ``tfa serve``.

The test takes down a throwaway cluster of its own (dev/postgres.py), never
the shared test server. Clients keep requesting codes while the database is stopped for
7 s (longer than a request waits for a connection) and started again. The figure: every
answer is 201 or 503 (-78, with Retry-After), at least one 503 came while it was down,
201s come back without restarting the server, every code acknowledged with a 201 is in
the database afterwards, and a code sent before the outage still validates.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet import (
    Database,
    Fleet,
    fleet_environ,
    new_phone,
    new_ref,
    processes,
    serve_command,
    tokens_toml,
)
from parallel_http import Reply
from postgres_db import database_url

from dev.postgres import Cluster, throwaway_cluster
from tfa_engine import catalogue

pytestmark = [pytest.mark.network, pytest.mark.slow]  # a database outage

CLIENTS = 4  # threads requesting codes back to back
# A request waits this long for a database connection before it is refused (-78): the
# PostgreSQL store's default. An outage shorter than that only delays requests.
POOL_TIMEOUT = 5.0
DOWN_FOR = POOL_TIMEOUT + 2.0  # seconds the database stays stopped
RECOVERED = 20  # 201s after the restart that show the service is back
RECOVERY_TIMEOUT = 30.0  # seconds for those to come
TOKEN = "7e1d3c5b-9a2f-4b8e-8c6d-0f1a2b3c4d5e"
SUCCESS = (catalogue.SUCCESS.http, catalogue.SUCCESS.code)
UNAVAILABLE = (catalogue.UNAVAILABLE.http, catalogue.UNAVAILABLE.code)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster this test may stop (where PostgreSQL tests run at all)."""
    database_url()  # skips, or fails under CI, like every PostgreSQL case
    with throwaway_cluster() as started:
        yield started


@dataclass(frozen=True)
class Sample:
    """One request of the burst: when it started and ended, and its answer."""

    started: float
    ended: float
    reply: Reply | None
    error: str | None = None


def burst(fleet: Fleet, stop: threading.Event, samples: list[Sample]) -> None:
    """Request codes back to back until ``stop``, each with a new client_ref and phone."""
    number = 0
    while not stop.is_set():
        started = time.time()
        try:
            reply = fleet.request_code(number, "shop", new_ref("burst"), new_phone())
            samples.append(Sample(started, time.time(), reply))
        except Exception as exc:  # a failure of the server itself: reported, not raised here
            samples.append(Sample(started, time.time(), None, repr(exc)))
        number += 1


def test_requests_during_a_database_restart_get_503_and_lose_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Database stopped for 7 s under a burst: only 503 -78 meanwhile, then 201 again
    from the same server; every 201's code stored; an earlier code still validates."""
    config = tmp_path / "tokens.toml"
    config.write_text(tokens_toml({"shop": TOKEN}), encoding="utf-8")
    env = fleet_environ(cluster.url, TFA_CONFIG=str(config), TFA_RATE_LIMITS="off")
    with processes([serve_command("--threads", "16")], tmp_path, env) as (server,):
        fleet = Fleet("restart", [server], Database(cluster.url), {"shop": TOKEN})
        before_ref, before_phone = new_ref("before"), new_phone()
        assert fleet.request_code(0, "shop", before_ref, before_phone).outcome == SUCCESS
        before_code = fleet.sms_code(before_phone)

        stop = threading.Event()
        samples: list[Sample] = []
        clients = [
            threading.Thread(target=burst, args=(fleet, stop, samples), daemon=True)
            for _ in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        try:
            time.sleep(1.0)
            down = time.time()
            cluster.stop("fast")
            time.sleep(DOWN_FOR)
            cluster.start()
            up = time.time()
            deadline = time.monotonic() + RECOVERY_TIMEOUT
            while time.monotonic() < deadline and sum(
                s.started > up and s.reply is not None and s.reply.outcome == SUCCESS
                for s in list(samples)
            ) < RECOVERED:
                time.sleep(0.1)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=60.0)
        assert not any(client.is_alive() for client in clients)
        after = fleet.validate(0, "shop", before_ref, before_code)
        assert server.process.poll() is None, "the server did not survive the outage"
        stored = {str(row[0]) for row in fleet.database.rows("SELECT message_id FROM codes")}

    assert [s.error for s in samples if s.error] == []
    answers = [(s.started, s.ended, s.reply) for s in samples if s.reply is not None]
    figures = Counter(reply.outcome for _, _, reply in answers)
    assert set(figures) <= {SUCCESS, UNAVAILABLE}, figures  # never 500 nor another 5xx
    refused = [(started, ended, reply) for started, ended, reply in answers
               if reply.outcome == UNAVAILABLE]
    assert refused, f"no request saw the database down: {figures}"
    assert all(reply.headers.get("retry-after") for _, _, reply in refused)
    recovered = [(started, ended) for started, ended, reply in answers
                 if started > up and reply.outcome == SUCCESS]
    assert len(recovered) >= RECOVERED, f"the service did not come back: {figures}"
    # Refusals only while the database was down: none ended before it went, and none
    # started after the first 201 that began once it was back.
    back = min(ended for _, ended in recovered)
    assert all(down <= ended and started <= back for started, ended, _ in refused)
    acknowledged = {reply.message_id for _, _, reply in answers if reply.outcome == SUCCESS}
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged codes lost"
    assert after.outcome == (catalogue.VALID.http, catalogue.VALID.code)
