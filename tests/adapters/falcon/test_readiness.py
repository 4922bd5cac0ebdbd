"""``GET /health/ready`` asks the store at most once a second, whatever the call rate.

The store is counted in-process (a memory store whose readiness check counts its calls) and
time is the engine's fake clock, so seconds pass only when the test says.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import falcon.testing
from fake_clock import FakeClock
from outage import OutageStore

from tfa_engine import Engine, EngineConfig, MemoryGateway
from tfa_engine.adapters.falcon import create_app

THREADS = 16
SETTLE = 0.2  # seconds for the probing threads to reach the computation under way
JOIN_TIMEOUT = 10.0


class CountingStore(OutageStore):
    """An :class:`OutageStore` counting readiness checks; each may be held on ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.pings = 0
        self.entered = threading.Event()  # set when a check starts
        self.gate = threading.Event()  # a check proceeds once set
        self.gate.set()

    def ping(self, now: float) -> None:
        self.pings += 1
        self.entered.set()
        assert self.gate.wait(JOIN_TIMEOUT)
        super().ping(now)


def probe_client(store: CountingStore, clock: FakeClock) -> falcon.testing.TestClient:
    """A test client of an app on ``store``, its engine reading ``clock``."""
    engine = Engine(store, MemoryGateway(), EngineConfig(argon2_profile="test"), clock=clock,
                    resolver=None)
    return falcon.testing.TestClient(create_app(engine))


def statuses(client: falcon.testing.TestClient, calls: int,
             between: Callable[[], Any] = lambda: None) -> list[int]:
    """HTTP statuses of ``calls`` probes, ``between()`` run after each."""
    answers = []
    for _ in range(calls):
        answers.append(client.simulate_get("/health/ready").status_code)
        between()
    return answers


def test_a_flood_of_probes_asks_the_store_at_most_once_a_second(clock: FakeClock) -> None:
    """1000 probes over 10 s ask the store at most 11 times (once per second), all 200."""
    store = CountingStore()
    answers = statuses(probe_client(store, clock), 1000, lambda: clock.advance(0.01))
    assert set(answers) == {200}
    assert store.pings <= 11


def test_a_verdict_older_than_a_second_is_not_reused(clock: FakeClock) -> None:
    """Once a second has passed the store is asked again: an outage shows at the next
    probe after that second, and so does the recovery."""
    store = CountingStore()
    client = probe_client(store, clock)
    assert statuses(client, 1) == [200]
    store.down = True
    clock.advance(0.5)
    assert statuses(client, 1) == [200]  # the verdict of half a second ago
    clock.advance(0.6)
    assert statuses(client, 2) == [503, 503]
    store.down = False
    clock.advance(1.1)
    assert statuses(client, 1) == [200]


def test_probes_arriving_during_a_check_share_it(clock: FakeClock) -> None:
    """16 probes at once while the store is slow to answer: one check, 16 answers of 200."""
    store = CountingStore()
    client = probe_client(store, clock)
    store.gate.clear()
    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.extend(statuses(client, 1)))
    first.start()
    assert store.entered.wait(JOIN_TIMEOUT)
    others = [threading.Thread(target=lambda: answers.extend(statuses(client, 1)))
              for _ in range(THREADS - 1)]
    for thread in others:
        thread.start()
    time.sleep(SETTLE)  # the others are now waiting on the check under way (or asking again)
    store.gate.set()
    for thread in [first, *others]:
        thread.join(JOIN_TIMEOUT)
    assert answers == [200] * THREADS
    assert store.pings == 1
