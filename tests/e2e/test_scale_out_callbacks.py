"""Callbacks across nodes: servers on one PostgreSQL schema share one outbox.

Every server here allows callbacks to 127.0.0.1 (TFA_CALLBACK_ALLOW_PRIVATE=true), signs
with one TFA_CALLBACK_KEY and runs without rate limits (not under test here); callbacks go
to a :class:`~hold_listener.HoldListener` in this process.

The figures:
    6. 100 codes requested with a callback_url through two servers: 100 INTERNAL callbacks,
       each message_id once, delivered between both nodes, every one signed alike; the
       outbox ends with 100 'delivered'.
    7. A node that claimed 10 callbacks (the listener holds its first delivery) is killed
       with SIGKILL: a second node delivers all 10, each only once its lease (5 s) ended.
    8. A callback node A signed verifies with the callback secret that
       ``tfa token create --json`` printed on node B's settings.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from fleet import (
    CALLBACK_KEY,
    Database,
    Fleet,
    fleet_environ,
    new_phone,
    new_ref,
    postgres_schema,
    processes,
    serve_command,
    start_fleet,
    tokens_toml,
)
from hold_listener import Callback, HoldListener
from parallel_http import in_parallel
from tfa_processes import TfaProcess, create_token_json

from tfa_engine import catalogue
from tfa_engine._callbacks import CallbackSigner

pytestmark = pytest.mark.network

LEASE = 5  # TFA_CALLBACK_LEASE: seconds a claimed callback stays with its claimer
CALLBACK_TIMEOUT = 30.0  # seconds for the expected callbacks to arrive
DUPLICATE_WINDOW = 2.5  # seconds past the dispatchers' 1 s poll for a duplicate to show
DELIVERED = re.compile(r"callback for message_id=(\d+) delivered")
CALLBACK_SETTINGS = {
    "TFA_CALLBACK_ALLOW_PRIVATE": "true",
    "TFA_RATE_LIMITS": "off",
    "TFA_CALLBACK_LEASE": str(LEASE),
}
SUCCESS = (catalogue.SUCCESS.http, catalogue.SUCCESS.code)


@pytest.fixture
def listener() -> Iterator[HoldListener]:
    """A callback listener answering 200 (holding only when told to)."""
    running = HoldListener()
    try:
        yield running
    finally:
        running.close()


def delivered_by(process: TfaProcess) -> list[str]:
    """The message_ids whose callback ``process`` logged as delivered."""
    return [m[1] for line in process.output().splitlines() if (m := DELIVERED.search(line))]


def outbox_states(database: Database) -> dict[str, int]:
    """How many outbox entries are in each state."""
    return {str(state): int(n) for state, n in database.rows(
        "SELECT state, count(*) FROM outbox GROUP BY state"
    )}


def wait_for_outbox(database: Database, expected: dict[str, int], timeout: float) -> None:
    """Wait until the outbox's states are ``expected`` (a delivery is recorded just after
    the listener answered it)."""
    import time

    deadline = time.monotonic() + timeout
    while (states := outbox_states(database)) != expected:
        assert time.monotonic() < deadline, f"outbox {states}, expected {expected}"
        time.sleep(0.1)


def request_with_callback(fleet: Fleet, number: int, url: str) -> str:
    """A code with a callback_url, requested from server ``number``; its message_id."""
    reply = fleet.request_code(number, "hooks", new_ref("hook"), new_phone(), callback_url=url)
    assert reply.outcome == SUCCESS, reply.body
    return reply.message_id


# -- 6. one outbox, two dispatchers -----------------------------------------------------------
def test_two_nodes_deliver_each_callback_exactly_once(
    tmp_path: Path, listener: HoldListener
) -> None:
    """100 codes through two servers: 100 INTERNAL callbacks, each message_id once, both
    nodes delivering, all signed with the token's one secret; outbox: 100 delivered."""
    with start_fleet(
        "two-servers-pg", tmp_path, ["hooks"], **CALLBACK_SETTINGS
    ) as fleet:
        message_ids = in_parallel(100, lambda n: request_with_callback(fleet, n, listener.url))
        assert len(set(message_ids)) == 100
        listener.wait_until(lambda got: len(got) >= 100, "100 callbacks", CALLBACK_TIMEOUT)
        received = listener.settle(DUPLICATE_WINDOW)
        wait_for_outbox(fleet.database, {"delivered": 100}, CALLBACK_TIMEOUT)
        per_node = [delivered_by(process) for process in fleet.processes]
        token_id = fleet.database.value("SELECT id FROM tokens")

    assert len(received) == 100
    assert Counter(c.message_id for c in received) == Counter(set(message_ids))
    assert {(c.data["type"], c.data["status"]) for c in received} == {("INTERNAL", "ACCEPTD")}
    # Both dispatchers took part, and between them delivered each callback once.
    assert all(per_node), [len(ids) for ids in per_node]
    assert Counter(per_node[0] + per_node[1]) == Counter(set(message_ids))
    secret = CallbackSigner(CALLBACK_KEY).secret_for(token_id)
    assert all(c.signed_with(secret) for c in received)


# -- 7. a node killed while it holds claimed callbacks ----------------------------------------
@contextmanager
def node(workdir: Path, env: dict[str, str], name: str) -> Iterator[TfaProcess]:
    """One ``tfa serve`` of a deployment, stopped on the way out."""
    with processes([serve_command("--threads", "16")], workdir, env, name=name) as (started,):
        yield started


def leases(database: Database, message_ids: list[str]) -> dict[str, float]:
    """When each entry's lease ends, for the pending entries a node claimed (a claim moves
    next_attempt_at past created_at)."""
    return {
        str(message_id): float(until)
        for message_id, until in database.rows(
            "SELECT message_id, next_attempt_at FROM outbox"
            " WHERE state = 'pending' AND next_attempt_at > created_at"
        )
        if str(message_id) in message_ids
    }


@pytest.mark.slow  # a kill, then a lease to wait out
def test_callbacks_claimed_by_a_killed_node_are_delivered_by_another_after_the_lease(
    tmp_path: Path, listener: HoldListener
) -> None:
    """Node A claims 10 callbacks and is SIGKILLed while its posts are held: node B
    delivers all 10, none before its lease ended, none lost."""
    with ExitStack() as stack:
        database = stack.enter_context(postgres_schema())
        config = tmp_path / "tokens.toml"
        tokens = {"hooks": "5d0b7c1e-8a2f-4e6b-9c3d-1f0e2a4b6c8d"}
        config.write_text(tokens_toml(tokens), encoding="utf-8")
        env = fleet_environ(database, TFA_CONFIG=str(config), **CALLBACK_SETTINGS)
        node_a = stack.enter_context(node(tmp_path, env, "node A"))
        fleet = Fleet("node A", [node_a], Database(database), tokens)

        # A's dispatcher is held on a first callback while 10 more codes are sent, then
        # released: it claims the 10 in one batch and its posts of them are held.
        listener.holding = True
        blocker = request_with_callback(fleet, 0, listener.url)
        listener.wait_until(lambda got: len(got) == 1, "A's first delivery", CALLBACK_TIMEOUT)
        message_ids = [request_with_callback(fleet, n, listener.url) for n in range(10)]
        listener.release()
        held = listener.wait_until(lambda got: len(got) >= 2, "A's next delivery",
                                   CALLBACK_TIMEOUT)[1]
        claimed = leases(fleet.database, message_ids)
        read_at = time.time()
        assert sorted(claimed) == sorted(message_ids), "A did not claim the 10 callbacks"

        # Killed at once: A's held posts must not time out first (after lease/2 a post that
        # fails hands its callback back for a retry, legitimately before the lease's end).
        assert node_a.stop(signal.SIGKILL) == -signal.SIGKILL
        node_b = stack.enter_context(node(tmp_path, env, "node B"))
        listener.holding = False
        listener.release()

        def after_kill(got: list[Callback]) -> list[Callback]:
            return [c for c in got if not c.held]

        listener.wait_until(
            lambda got: {c.message_id for c in after_kill(got)} >= set(message_ids),
            "the 10 claimed callbacks, from node B", LEASE + CALLBACK_TIMEOUT,
        )
        redelivered = after_kill(listener.settle(DUPLICATE_WINDOW))
        wait_for_outbox(fleet.database, {"delivered": 11}, CALLBACK_TIMEOUT)
        by_b = delivered_by(node_b)

    assert Counter(c.message_id for c in redelivered) == Counter(message_ids)
    # A claimed them (or renewed its claim, posting) as its held deliveries arrived, each
    # for the lease.
    assert all(held.arrived - 1.0 <= until - LEASE <= read_at for until in claimed.values())
    for callback in redelivered:
        assert callback.arrived >= claimed[callback.message_id], "delivered before its lease"
    assert sorted(by_b) == sorted(message_ids)
    assert blocker in delivered_by(node_a) and not set(message_ids) & set(delivered_by(node_a))


# -- 8. one signing key for every node --------------------------------------------------------
def test_callback_signed_by_one_node_verifies_with_the_secret_shown_on_another(
    tmp_path: Path, listener: HoldListener
) -> None:
    """Node B's ``tfa token create --json`` shows the secret; node A signs with it."""
    with postgres_schema() as database:
        # Node B's settings share only the database and the key with node A's.
        settings_b = fleet_environ(database, TFA_PORT="18081", TFA_THREADS="4")
        created = create_token_json(tmp_path, settings_b, "hooks")
        env_a = fleet_environ(database, **CALLBACK_SETTINGS)
        with node(tmp_path, env_a, "node A") as node_a:
            fleet = Fleet("node A", [node_a], Database(database), {"hooks": created["token"]})
            message_id = request_with_callback(fleet, 0, listener.url)
            (callback,) = listener.wait_until(bool, "one callback", CALLBACK_TIMEOUT)
            node_a.wait_for(rf"callback for message_id={message_id} delivered")

    assert callback.message_id == message_id
    assert callback.signed_with(created["callback_secret"])
    other_key = CallbackSigner(CALLBACK_KEY + "-other").secret_for(created["id"])
    assert not callback.signed_with(other_key)
