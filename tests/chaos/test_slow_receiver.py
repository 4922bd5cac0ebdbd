"""Chaos: a slow callback receiver behind two nodes on one PostgreSQL schema.

The receiver takes a second to answer each callback (200 in the end), and the nodes'
claims last 10 s (TFA_CALLBACK_LEASE). Nothing fails, so nothing may be posted twice:
200 callbacks give 200 posts, each message_id once, shared between both nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import Fleet, new_phone, new_ref, start_fleet
from hold_listener import HoldListener
from parallel_http import in_parallel

from tfa_engine import catalogue

pytestmark = [pytest.mark.network, pytest.mark.slow]

CALLBACKS = 200
RECEIVER_SECONDS = 1.0  # each callback's answer takes this long
LEASE = 10  # TFA_CALLBACK_LEASE
SETTLE = LEASE + 3.0  # long enough for a claim to run out and a duplicate to show


@pytest.fixture
def slow_receiver() -> Iterator[HoldListener]:
    """A callback receiver answering 200 after a second."""
    listener = HoldListener()
    listener.delay = RECEIVER_SECONDS
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Two servers on one PostgreSQL schema that may call back 127.0.0.1."""
    with start_fleet("two-servers-pg", tmp_path, ("hooks",), TFA_CALLBACK_ALLOW_PRIVATE="true",
                     TFA_RATE_LIMITS="off", TFA_CALLBACK_LEASE=str(LEASE)) as started:
        yield started


def test_a_slow_receiver_gets_each_callback_once(
    fleet: Fleet, slow_receiver: HoldListener
) -> None:
    """200 codes with a callback_url, a receiver answering in 1 s: exactly 200 posts, one
    per message_id, delivered by both nodes."""
    replies = in_parallel(CALLBACKS, lambda n: fleet.request_code(
        n, "hooks", new_ref("hook"), new_phone(), callback_url=slow_receiver.url))
    assert {reply.outcome for reply in replies} == {
        (catalogue.SUCCESS.http, catalogue.SUCCESS.code)}
    sent = {reply.message_id for reply in replies}
    slow_receiver.wait_until(
        lambda got: {c.message_id for c in got} >= sent, "every callback", timeout=120)
    received = slow_receiver.settle(SETTLE)
    posts = Counter(callback.message_id for callback in received)
    assert set(posts) == sent
    assert [m for m, count in posts.items() if count > 1] == []
    assert len(received) == CALLBACKS
    for process in fleet.processes:
        assert process.wait_until(
            lambda lines: any("delivered" in line for line in lines) or None,
            "deliveries by each node")
