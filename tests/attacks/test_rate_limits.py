"""Attack: flooding one phone with codes (SMS bombing).

The per-phone send limit (5 per 10 minutes by default) is a sliding window: an SMS is
admitted only once the one 5 sends back has left the window. The sixth send within ten
minutes is 429 -70 with Retry-After and never reaches the gateway; with a fake clock
stepped onto, just before and just after every window edge, no window of 600 s ever holds
more than 5 admitted sends, and no send is refused while its window has room.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import falcon.testing
from attack_collector import COLLECTED
from attack_kit import (
    CODE_FIELDS,
    IP,
    gateway_of,
    issue,
    make_engine,
    send,
    windows_overfull,
)
from fake_clock import FakeClock

from tfa_engine import RateLimit, catalogue
from tfa_engine.adapters.falcon import create_app
from tfa_engine.store import Store

PHONE = "+447400100001"
DEFAULT_LIMIT = RateLimit(5, 600)
# A power of two's fraction: every clock value below is exact in binary floating point,
# so "just before the edge" is truly before it, on the engine's side and on ours.
TICK = 2.0**-10


def test_sixth_send_within_ten_minutes_is_429_70_and_not_sent(
    backend: Store, clock: FakeClock
) -> None:
    """Five sends in 8 minutes are sent; the sixth, at 9 min 50 s, is 429 -70 with the seconds
    until the first leaves the window, the gateway saw 5; at that second it is admitted."""
    engine = make_engine(backend, clock=clock)
    assert engine.config.limit_phone_sends == DEFAULT_LIMIT  # the documented default
    token = issue(engine, "flood").token
    client = falcon.testing.TestClient(create_app(engine))
    COLLECTED.phone(PHONE)

    def post(ref: str) -> falcon.testing.Result:
        return client.simulate_post(
            "/1/2fa", json={"client_ref": ref, "phone_number": PHONE, **CODE_FIELDS},
            headers={"Authorization": f"Token {token}"}, remote_addr=IP,
        )

    first = clock()
    for number in range(5):
        clock.set(first + 120 * number)  # at 0, 2, 4, 6 and 8 minutes
        answer = post(f"bomb-{number}")
        assert (answer.status_code, answer.json["result_info"]["status_code"]) == (201, 0)
    clock.set(first + 590)
    sixth = post("bomb-5")
    assert (sixth.status_code, sixth.json["result_info"]["status_code"]) == (429, -70)
    assert sixth.headers["Retry-After"] == "10"  # the first send leaves the window at 600 s
    assert gateway_of(engine).attempts == 5

    clock.set(first + 600)
    again = post("bomb-5")  # the refusal did not consume the client_ref
    assert (again.status_code, again.json["result_info"]["status_code"]) == (201, 0)
    assert gateway_of(engine).attempts == 6


def test_parallel_flood_admits_exactly_the_limit(backend: Store, clock: FakeClock) -> None:
    """30 sends to one phone at the same instant, from 30 threads: 5 sent, 25 refused -70."""
    engine = make_engine(backend, clock=clock)
    token = issue(engine, "parallel-flood").token
    barrier = threading.Barrier(30, timeout=30)

    def one(number: int) -> int:
        barrier.wait()
        return send(engine, token, f"par-{number}", PHONE).status.code

    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(one, range(30)))
    assert sorted(answers) == [-70] * 25 + [0] * 5
    assert gateway_of(engine).attempts == 5


def _edge_walk(
    admitted: list[float], now: float, rng: random.Random, limit: RateLimit
) -> float:
    """The next instant to try a send at: mostly on, just before or just after the moment
    the send ``limit.count`` back leaves the window, else a short step, rarely a long one."""
    later: list[float] = []
    if len(admitted) >= limit.count:
        edge = admitted[-limit.count] + limit.seconds
        later = [moment for moment in (edge - TICK, edge, edge + TICK) if moment > now]
    roll = rng.random()
    if later and roll < 0.6:
        return rng.choice(later)
    if roll < 0.95:
        return now + rng.choice([TICK, 1.0, rng.randrange(1, 64 * 1024) * TICK])
    return now + rng.choice([limit.seconds - TICK, limit.seconds, 2.5 * limit.seconds])


def test_no_window_of_600_s_ever_holds_more_than_5_sends(
    backend: Store, clock: FakeClock
) -> None:
    """150 sends at instants walking over the window edges (seeded): every window of
    600 s holds at most 5 admitted sends, every refusal is -70 with a full window, every
    send whose window had room is admitted, and the gateway saw exactly the admitted."""
    engine = make_engine(backend, clock=clock, fraud_guard=False)
    token = issue(engine, "edges").token
    limit = engine.config.limit_phone_sends
    rng = random.Random(20261124)
    clock.set(float(int(clock())))
    admitted: list[float] = []
    refused = 0
    for number in range(150):
        clock.set(_edge_walk(admitted, clock(), rng, limit))
        now = clock()
        in_window = [t for t in admitted if t > now - limit.seconds]
        outcome = send(engine, token, f"edge-{number}", PHONE)
        if outcome.ok:
            assert len(in_window) < limit.count, f"admitted at {now} with a full window"
            admitted.append(now)
        else:
            assert outcome.status == catalogue.RATE_LIMITED, outcome.status
            assert len(in_window) >= limit.count, f"refused at {now} with room in the window"
            assert outcome.retry_after is not None and outcome.retry_after >= 1
            refused += 1
    assert windows_overfull(admitted, limit.count, limit.seconds) == []
    assert gateway_of(engine).attempts == len(admitted)
    # The walk did test both sides: many sends admitted, many refused at an edge.
    assert len(admitted) >= 40 and refused >= 20, (len(admitted), refused)


def test_window_scan_finds_an_overfull_window() -> None:
    """The scan used above sees a sixth event inside 600 s, and none at 600 s exactly."""
    times = [0.0, 100.0, 200.0, 300.0, 400.0]
    assert windows_overfull([*times, 599.0], 5, 600) == [0.0]
    assert windows_overfull([*times, 600.0], 5, 600) == []
    assert windows_overfull([5.0, 5.0], 1, 1) == [5.0]  # two at one instant
