"""Attack: SMS pumping (artificially inflated traffic). A bot asks for codes to many
numbers of one range that it is paid for, and never types a code in.

The fraud guard watches each token's sends per range (country code + 3 digits): once 50
codes went to a range within the hour and fewer than 10 % were validated, it holds the
range (-77, HTTP 429, Retry-After) for the hour. Only the guard acts here: every number
is distinct and the token's request limit is raised out of the way.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from attack_collector import COLLECTED
from attack_kit import gateway_of, issue, make_engine, send
from fake_clock import FakeClock

from tfa_engine import Engine, RateLimit, catalogue
from tfa_engine._phones import to_e164
from tfa_engine.store import Store

PUMPED_RANGE = "+44791"
PUMPED = [f"+4479111{n:05d}" for n in range(200)]  # +447911 1xxxxx
HEALTHY_RANGE = "+44740"
HEALTHY = [f"+4474002{n:05d}" for n in range(200)]  # +447400 2xxxxx
MIN_SENDS = 50  # the guard's default
OUT_OF_THE_WAY = RateLimit(100_000, 60)


def pumping_engine(store: Store, clock: FakeClock) -> Engine:
    """Default guard; the per-token request limit raised so that only the guard acts."""
    engine = make_engine(store, clock=clock, limit_token_requests=OUT_OF_THE_WAY)
    assert (engine.config.fraud_guard, engine.config.fraud_min_sends,
            engine.config.fraud_window, engine.config.fraud_min_conversion) == (
        True, MIN_SENDS, 3600, 10)
    return engine


def held_records(prefix: str) -> list[dict[str, object]]:
    """The fraud.held audit records of ``prefix`` logged in this process so far."""
    found = []
    for record in COLLECTED.audit_records():
        fields = record.audit  # type: ignore[attr-defined]
        if fields["event"] == "fraud.held" and fields.get("range") == prefix:
            found.append(fields)
    return found


def test_pumping_a_range_is_held_after_at_most_50_sms(
    backend: Store, clock: FakeClock
) -> None:
    """200 unvalidated sends to one range: at most 50 reach the gateway, then -77 for
    every one after; fraud.held is logged once. 200 sends to another range of the same
    token, 70 % validated, are all sent. An operator's release lifts the hold."""
    assert all(to_e164(p) == p for p in PUMPED + HEALTHY)
    engine = pumping_engine(backend, clock)
    issued = issue(engine, "pumped")
    before = len(held_records(PUMPED_RANGE))
    codes = []
    for number, phone in enumerate(PUMPED):
        clock.advance(5)
        outcome = send(engine, issued.token, f"pump-{number}", phone)
        codes.append(outcome.status.code)
        if outcome.status == catalogue.FRAUD_HELD:
            assert outcome.status.http == 429
            assert outcome.retry_after is not None and outcome.retry_after >= 1
    first_held = codes.index(-77)
    assert first_held <= MIN_SENDS
    assert codes == [0] * first_held + [-77] * (200 - first_held)
    assert gateway_of(engine).attempts == first_held <= MIN_SENDS
    (held,) = held_records(PUMPED_RANGE)[before:]
    assert held["token_id"] == issued.record.id
    assert held["phone"] != PUMPED[first_held] and str(held["phone"]).endswith("**50")
    assert [h for h, _, _ in engine.held_ranges()] == [issued.record.id]

    sent = gateway_of(engine).attempts
    for number, phone in enumerate(HEALTHY):
        clock.advance(5)
        outcome = send(engine, issued.token, f"healthy-{number}", phone)
        assert outcome.status == catalogue.SUCCESS, (number, outcome.status)
        if number % 10 < 7:
            code = gateway_of(engine).code_of(outcome.result["message_id"])
            checked = engine.validate_code(issued.token, "127.0.0.1", f"healthy-{number}", code)
            assert checked.status == catalogue.VALID
    assert gateway_of(engine).attempts == sent + 200
    assert held_records(HEALTHY_RANGE) == []
    assert [prefix for _, prefix, _ in engine.held_ranges()] == [PUMPED_RANGE]

    # An operator vouches for the range: sends to it go out again at once.
    assert engine.release_range(issued.record.id, PUMPED_RANGE) is True
    assert send(engine, issued.token, "after-release", PUMPED[-1]).ok


def test_a_hold_ends_with_its_window_or_by_hand(backend: Store, clock: FakeClock) -> None:
    """After the hour the range is sent to again (fraud.released, by expiry) and its old
    traffic no longer counts; a new hold can be lifted at once by an operator."""
    engine = pumping_engine(backend, clock)
    issued = issue(engine, "released")
    sends = iter(PUMPED)
    for number in range(MIN_SENDS):
        clock.advance(1)
        assert send(engine, issued.token, f"a-{number}", next(sends)).ok
    clock.advance(1)
    held = send(engine, issued.token, "a-held", next(sends))
    assert held.status == catalogue.FRAUD_HELD and held.retry_after == 3600

    clock.advance(3600)
    # The hold ended: the next 50 sends go out, counted afresh (the one that found the
    # hold over included); the 51st is held again.
    for number in range(MIN_SENDS):
        outcome = send(engine, issued.token, f"b-{number}", next(sends))
        assert outcome.ok, (number, outcome.status)
        clock.advance(1)
    assert send(engine, issued.token, "b-held", next(sends)).status == catalogue.FRAUD_HELD

    assert engine.release_range(issued.record.id, PUMPED_RANGE) is True
    assert send(engine, issued.token, "c-0", next(sends)).ok
    released = [r.audit for r in COLLECTED.audit_records()  # type: ignore[attr-defined]
                if r.audit["event"] == "fraud.released"
                and r.audit["token_id"] == issued.record.id]
    assert [r["by"] for r in released] == ["expiry", "operator"]
    assert gateway_of(engine).attempts == 2 * MIN_SENDS + 1


def test_parallel_pumping_is_held_after_at_most_50_sms_too(
    backend: Store, clock: FakeClock
) -> None:
    """200 unvalidated sends to one range from 16 threads at once: at most 50 reach the
    gateway, every other one is -77, and the range is held once."""
    engine = pumping_engine(backend, clock)
    issued = issue(engine, "parallel-pump")
    barrier = threading.Barrier(16, timeout=30)
    lock = threading.Lock()
    numbers = iter(range(200))

    def worker(_: int) -> list[int]:
        barrier.wait()
        answers = []
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return answers
            outcome = send(engine, issued.token, f"p-{number}", PUMPED[number])
            answers.append(outcome.status.code)

    with ThreadPoolExecutor(max_workers=16) as pool:
        counts = Counter(code for answers in pool.map(worker, range(16)) for code in answers)
    assert set(counts) == {0, -77}
    assert counts[0] == gateway_of(engine).attempts <= MIN_SENDS
    held = [r for r in COLLECTED.audit_records()
            if r.audit["event"] == "fraud.held"  # type: ignore[attr-defined]
            and r.audit["token_id"] == issued.record.id]  # type: ignore[attr-defined]
    assert len(held) == 1
