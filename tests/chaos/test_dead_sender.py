"""Chaos: a node killed (SIGKILL) while its send waits on a slow gateway.

The code it was sending stays pending in the database, and its SMS may reach the user
all the same (here it does: the gateway simulator takes it after its 2 s of latency).
Once the node is back, a new code for the same phone goes live, and from then on only the
new code validates: one code per (token, phone) at any time, pending codes left by a dead
process included. On one SQLite file and on a PostgreSQL schema, through real ``tfa
serve`` and ``tfa gateway-sim`` processes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from attack_kit import (
    code_in,
    create_token_cli,
    request_code,
    service_env,
    set_faults,
    sim_messages,
    start_service,
    start_simulator,
    stopping,
    validate,
)
from fleet import CALLBACK_KEY, Database, postgres_schema

from tfa_engine import catalogue

pytestmark = [pytest.mark.network, pytest.mark.slow]

PHONE = "+447400500001"
LATENCY = 2.0  # seconds the gateway takes to answer each send
GATEWAY = ("chaos", "chaos-gateway-pass")
WAIT = 30.0


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the service keeps its data: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "tfa.db")
        return
    with postgres_schema() as url:
        yield url


def wait_for(what: str, found: Callable[[], object]) -> None:
    """Poll ``found()`` until it is true, at most :data:`WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while not found():
        assert time.monotonic() < deadline, f"not within {WAIT}s: {what}"
        time.sleep(0.05)


def test_a_code_left_pending_by_a_killed_node_dies_when_a_new_one_goes_live(
    tmp_path: Path, database: str
) -> None:
    """Kill -9 during a send, restart, send again to the phone: the code the dead node
    left pending (its SMS delivered) is -53, the new one is Valid."""
    with ExitStack() as stack:
        sim = start_simulator(tmp_path, *GATEWAY)
        stack.enter_context(stopping(sim))
        env = service_env(
            tmp_path, TFA_DATABASE=database, TFA_GATEWAY="mediariver",
            TFA_MEDIARIVER_URL=sim.base_url, TFA_MEDIARIVER_USERNAME=GATEWAY[0],
            TFA_MEDIARIVER_PASSWORD=GATEWAY[1], TFA_CALLBACK_KEY=CALLBACK_KEY,
        )
        token = create_token_cli(tmp_path, env, "chaos")["token"]
        node = start_service(tmp_path, env)
        stack.enter_context(stopping(node))
        set_faults(sim.base_url, latency=LATENCY)
        in_flight = threading.Thread(
            target=lambda: _ignoring_errors(node.base_url, token), daemon=True
        )
        in_flight.start()
        rows = Database(database)
        wait_for("the first code stored, pending", lambda: rows.rows(
            "SELECT state FROM codes WHERE client_ref = ?", "ref-killed") == [("pending",)])
        node.stop(signal.SIGKILL)
        wait_for("the dead node's SMS at the gateway", lambda: len(sim_messages(sim.base_url)))
        set_faults(sim.base_url, reset=True)

        restarted = start_service(tmp_path, env)
        stack.enter_context(stopping(restarted))
        sent = request_code(restarted.base_url, token, "ref-new", PHONE)
        assert sent.status == 201, sent.body
        first, second = (code_in(m["message"]) for m in sim_messages(sim.base_url))

        assert validate(restarted.base_url, token, "ref-killed", first).code == (
            catalogue.INVALID.code)
        assert validate(restarted.base_url, token, "ref-new", second).code == (
            catalogue.VALID.code)
        in_flight.join(WAIT)


def _ignoring_errors(url: str, token: str) -> None:
    """The request the kill cuts off: its connection breaks, which is expected."""
    with contextlib.suppress(OSError):
        request_code(url, token, "ref-killed", PHONE)
