"""Property-based attack: random interleavings of code requests (new and duplicate
client_refs), validations (right, wrong, unknown) and clock steps (of any size, and
onto, just before and just after each window edge and expiry), on MemoryStore and on a
SQLite file, checked step by step against a model of the documented rules.

Invariants, asserted on what the engine answered (independently of the model):
* at most one Valid per code, and never at or after its expiry;
* a code's stored attempts never above the cap;
* no window of a limit's length ever holds more admitted events than its count: sends
  per phone, SMS per token (budget), failed validations per phone.
And every answer is the one the model expects, so refusing everything cannot pass.

Deterministic and bounded: derandomized, no example database, fixed example counts.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from attack_collector import COLLECTED
from attack_kit import gateway_of, issue, make_engine, send, windows_overfull
from fake_clock import FakeClock
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tfa_engine import Engine, MemoryStore, RateLimit, SQLiteStore, Status, catalogue
from tfa_engine.store import Store

TICK = 2.0**-10  # clock values stay exact binary fractions: edges are edges
TTL = 60
MAX_ATTEMPTS = 2
PHONE_SENDS = RateLimit(3, 120)
PHONE_FAILURES = RateLimit(3, 300)
BUDGET = RateLimit(6, 600)
PHONES = ("+447400800001", "+447400800002")
STEPS = [TICK, 1.0, 30.0, TTL - TICK, float(TTL), 119.0, 120.0, 121.0, 299.0, 300.0, 600.0]
SITUATIONS = {
    "request SUCCESS", "request RATE_LIMITED", "request BUDGET_EXHAUSTED",
    "request CLIENT_REF_EXISTS", "validate VALID", "validate DECLINED",
    "validate RATE_LIMITED", "validate CODE_NOT_FOUND", "validate INVALID used",
    "validate INVALID locked", "validate INVALID superseded", "validate INVALID expired",
}
SETTINGS = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Code:
    """What the model knows of a code that was sent."""

    ref: str
    phone: str
    code: str
    expires: float
    attempts: int = 0
    state: str = "live"  # live, used, locked, superseded
    valid: int = 0  # Valid answers seen


def full(times: list[float], limit: RateLimit, now: float) -> bool:
    """The store's rule: refused once the event ``count`` back is still in the window."""
    return len(times) >= limit.count and times[-limit.count] > now - limit.seconds


class EngineMachine(RuleBasedStateMachine):
    """One engine on a fresh store; one token; two phones."""

    backend: ClassVar[str] = "memory"
    directory: ClassVar[Path | None] = None
    _files: ClassVar[itertools.count[int]] = itertools.count()
    seen: ClassVar[Counter[str]]  # what the run met, by situation (set per test)

    refs = Bundle("refs")

    def __init__(self) -> None:
        super().__init__()
        self.store: Store
        if self.backend == "sqlite":
            assert self.directory is not None
            self.store = SQLiteStore(self.directory / f"prop-{next(self._files)}.db",
                                     synchronous="NORMAL")
        else:
            self.store = MemoryStore()
        self.clock = FakeClock()
        self.engine: Engine = make_engine(
            self.store, clock=self.clock, code_ttl=TTL, max_attempts=MAX_ATTEMPTS,
            limit_phone_sends=PHONE_SENDS, limit_phone_failures=PHONE_FAILURES,
        )
        issued = issue(self.engine, "property", sms_budget=BUDGET)
        self.token, self.token_id = issued.token, issued.record.id
        self.numbers = itertools.count()
        self.codes: dict[str, Code] = {}
        self.sends: dict[str, list[float]] = {p: [] for p in PHONES}  # admitted, per phone
        self.budget: list[float] = []  # admitted, for the token
        self.failures: dict[str, list[float]] = {p: [] for p in PHONES}  # counted

    def teardown(self) -> None:
        self.store.close()

    # -- rules -----------------------------------------------------------------------------
    @rule(target=refs, phone=st.sampled_from(PHONES))
    def request(self, phone: str) -> Any:
        return self._request(phone)

    @rule(phone=st.sampled_from(PHONES), times=st.integers(2, 3))
    def flood(self, phone: str, times: int) -> None:
        """Requests in a row for one phone (a bomber does not stop at one)."""
        for _ in range(times):
            self._request(phone)

    def _request(self, phone: str) -> str:
        now = self.clock()
        ref = f"ref-{next(self.numbers)}"
        outcome = send(self.engine, self.token, ref, phone)
        expected = (catalogue.RATE_LIMITED if full(self.sends[phone], PHONE_SENDS, now) else
                    catalogue.BUDGET_EXHAUSTED if full(self.budget, BUDGET, now) else
                    catalogue.SUCCESS)
        assert outcome.status == expected, (ref, outcome.status, expected)
        self.seen[f"request {expected.name}"] += 1
        if not outcome.ok:
            assert outcome.retry_after is not None and outcome.retry_after >= 1
            return ref  # not consumed: a later request may use a new ref anyway
        for older in self.codes.values():
            if older.phone == phone and older.state == "live":
                older.state = "superseded"
        code = gateway_of(self.engine).code_of(outcome.result["message_id"])
        self.codes[ref] = Code(ref, phone, code, now + TTL)
        self.sends[phone].append(now)
        self.budget.append(now)
        return ref

    @rule(ref=refs)
    def request_again(self, ref: str) -> None:
        """A client_ref that was sent is taken for good (-52); one refused is free."""
        if ref not in self.codes:
            return
        outcome = send(self.engine, self.token, ref, self.codes[ref].phone)
        assert outcome.status == catalogue.CLIENT_REF_EXISTS
        self.seen["request CLIENT_REF_EXISTS"] += 1

    def _validate(self, ref: str, submitted: str, right: bool) -> None:
        now = self.clock()
        outcome = self.engine.validate_code(self.token, "127.0.0.1", ref, submitted)
        known = self.codes.get(ref)
        if known is None:
            assert outcome.status == catalogue.CODE_NOT_FOUND
            self.seen["validate CODE_NOT_FOUND"] += 1
            return
        if full(self.failures[known.phone], PHONE_FAILURES, now):
            expected: Status = catalogue.RATE_LIMITED
        elif known.state != "live" or now >= known.expires:
            expected = catalogue.INVALID
            dead = "expired" if known.state == "live" else known.state
            self.seen[f"validate INVALID {dead}"] += 1
        elif right:
            expected = catalogue.VALID
            known.state = "used"
        else:
            expected = catalogue.DECLINED
            known.attempts += 1
            self.failures[known.phone].append(now)
            if known.attempts >= MAX_ATTEMPTS:
                known.state = "locked"
        assert outcome.status == expected, (ref, outcome.status, expected, known)
        self.seen[f"validate {expected.name}"] += 1
        if outcome.status == catalogue.VALID:
            known.valid += 1
            assert known.valid == 1, f"{ref} was Valid twice"
            assert now < known.expires, f"{ref} was Valid at or after its expiry"

    @rule(ref=refs, lower=st.booleans())
    def validate_right(self, ref: str, lower: bool) -> None:
        known = self.codes.get(ref)
        code = "ABCDEFGHJKLM" if known is None else known.code
        self._validate(ref, code.lower() if lower else code, right=known is not None)

    @rule(phone=st.sampled_from(PHONES), lower=st.booleans())
    def validate_newest(self, phone: str, lower: bool) -> None:
        """The right code of the newest code a phone got (what its owner types in)."""
        newest = [known for known in self.codes.values() if known.phone == phone]
        if newest:
            code = newest[-1].code
            self._validate(newest[-1].ref, code.lower() if lower else code, right=True)

    @rule(ref=refs, times=st.integers(1, 4))
    def validate_wrong(self, ref: str, times: int) -> None:
        """Wrong guesses in a row (a guesser does not stop at one)."""
        for _ in range(times):
            self._guess(ref)

    @rule(phone=st.sampled_from(PHONES), times=st.integers(1, 3))
    def fresh_code_and_guesses(self, phone: str, times: int) -> None:
        """A guesser asks for a fresh code once the last one is locked."""
        ref = self._request(phone)
        for _ in range(times):
            self._guess(ref)

    def _guess(self, ref: str) -> None:
        known = self.codes.get(ref)
        code = "ABCDEFGHJKLM" if known is None else known.code
        self._validate(ref, ("B" if code[0] == "A" else "A") + code[1:], right=False)

    @rule(ref=consumes(refs))
    def forget(self, ref: str) -> None:
        """Keeps the bundle from growing without end (nothing happens)."""

    @rule(step=st.sampled_from(STEPS))
    def advance(self, step: float) -> None:
        self.clock.advance(step)

    @rule(which=st.sampled_from(["sends", "failures", "budget", "expiry"]),
          phone=st.sampled_from(PHONES), offset=st.sampled_from([-TICK, 0.0, TICK]))
    def advance_to_edge(self, which: str, phone: str, offset: float) -> None:
        """Jump onto (or a tick around) the instant a window frees a place or a code dies."""
        if which == "sends" and len(self.sends[phone]) >= PHONE_SENDS.count:
            edge = self.sends[phone][-PHONE_SENDS.count] + PHONE_SENDS.seconds
        elif which == "failures" and len(self.failures[phone]) >= PHONE_FAILURES.count:
            edge = self.failures[phone][-PHONE_FAILURES.count] + PHONE_FAILURES.seconds
        elif which == "budget" and len(self.budget) >= BUDGET.count:
            edge = self.budget[-BUDGET.count] + BUDGET.seconds
        elif which == "expiry" and self.codes:
            edge = max(code.expires for code in self.codes.values())
        else:
            return
        if edge + offset > self.clock():
            self.clock.set(edge + offset)

    # -- invariants ------------------------------------------------------------------------
    @invariant()
    def attempts_never_above_the_cap(self) -> None:
        for ref in self.codes:
            record = self.store.find_code(self.token_id, ref)
            assert record is not None and record.attempts <= MAX_ATTEMPTS

    @invariant()
    def no_window_over_its_limit(self) -> None:
        for phone in PHONES:
            assert windows_overfull(self.sends[phone], PHONE_SENDS.count,
                                    PHONE_SENDS.seconds) == []
            assert windows_overfull(self.failures[phone], PHONE_FAILURES.count,
                                    PHONE_FAILURES.seconds) == []
        assert windows_overfull(self.budget, BUDGET.count, BUDGET.seconds) == []
        assert gateway_of(self.engine).attempts == len(self.budget)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_engine_keeps_its_invariants_under_any_interleaving(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    machine = type(f"EngineOn{backend.title()}", (EngineMachine,), {"backend": backend})
    machine.directory = tmp_path_factory.mktemp(f"properties-{backend}")
    machine.seen = Counter()
    run_state_machine_as_test(machine, settings=SETTINGS)
    # The interleavings reached every situation the rules are about.
    assert set(machine.seen) >= SITUATIONS, SITUATIONS - set(machine.seen)
    if backend == "sqlite":
        files = sorted(machine.directory.glob("prop-*.db"))
        assert files
        for file in files:
            COLLECTED.database(file)
