"""The fraud guard counts a range's codes from running totals on SQL stores: it must decide
exactly as counting the codes one by one does (what the memory store does).

One random history of sends, validations, failed sends, releases, purges and clock moves
(to slice edges and just before them among others) is played on an engine per store; every
answer must be the same on all of them, and the SQL stores' totals must be what counting
their codes says.
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock
from postgres_db import postgres_store
from range_totals import CODES, TOTALS, assert_totals_are_the_codes

from tfa_engine import Engine, EngineConfig, MemoryGateway, MemoryStore, SQLiteStore, catalogue
from tfa_engine.config import PLACEHOLDER, RateLimit
from tfa_engine.gateways import GatewayError
from tfa_engine.store import Store
from tfa_engine.store._ranges import SLICE

RANGES = ("+447911", "+447700")  # ranges +44791 and +44770
WINDOW = 120
CONFIG = EngineConfig(
    argon2_profile="test", fraud_window=WINDOW, fraud_min_sends=6, fraud_min_conversion=50,
    # Purged within the guard's window: deleted codes must leave the count as they leave
    # the table.
    code_ttl=60, retention=30,
    limit_phone_sends=RateLimit(1000, 600), limit_token_requests=RateLimit(100000, 60),
)


@dataclass
class Side:
    """One engine and what the history made on it."""

    name: str
    engine: Engine
    gateway: MemoryGateway
    tokens: list[tuple[str, str]] = field(default_factory=list)  # (token, id)
    codes: dict[str, str] = field(default_factory=dict)  # client_ref -> code

    def code_of(self, message_id: str) -> str:
        message = next(m for m in self.gateway.messages if m.message_id == message_id)
        start = len(CONFIG.default_template.split(PLACEHOLDER, 1)[0])
        return message.text[start : start + CONFIG.default_code_length]


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[list[Side]]:
    """An engine on each store, on one fake clock, each with two tokens."""
    clock = FakeClock()
    with ExitStack() as stack:
        stores: list[tuple[str, Store]] = [
            ("memory", MemoryStore()),
            ("sqlite", SQLiteStore(tmp_path / "tfa.db")),
            ("postgres", stack.enter_context(postgres_store())),
        ]
        made = []
        for name, store in stores:
            gateway = MemoryGateway()
            engine = Engine(store, gateway, CONFIG, clock=clock, resolver=None)
            stack.callback(engine.close)
            side = Side(name, engine, gateway)
            for number in range(2):
                issued = engine.create_token(f"t{number}")
                side.tokens.append((issued.token, issued.record.id))
            made.append(side)
        yield made


def _answer(outcome: Any) -> tuple[Any, ...]:
    return (outcome.status.code, outcome.retry_after)


def _play(sides: list[Side], clock: FakeClock, seed: int, steps: int) -> Counter[str]:
    """Play ``steps`` random moves; each answer is the same on every side."""
    rng = random.Random(seed)
    refs: list[tuple[int, str]] = []  # (token index, client_ref) of codes sent
    seen: Counter[str] = Counter()
    for step in range(steps):
        move = rng.random()
        if move < 0.45:
            number, ref = rng.randrange(2), f"r{step}"
            phone = rng.choice(RANGES) + f"{rng.randrange(100000):06d}"
            fail = rng.random() < 0.05
            answers, by_side = set(), {}
            for side in sides:
                side.gateway.failure = GatewayError("down") if fail else None
                body = {"client_ref": ref, "phone_number": phone}
                outcome = side.engine.request_code(side.tokens[number][0], "127.0.0.1", body)
                answers.add(_answer(outcome))
                by_side[side.name] = _answer(outcome)
                if outcome.status == catalogue.SUCCESS:
                    side.codes[ref] = side.code_of(str(outcome.result["message_id"]))
            assert len(answers) == 1, (step, by_side)
            answer = answers.pop()
            seen[str(answer[0])] += 1
            if answer[0] == catalogue.SUCCESS.code:
                refs.append((number, ref))
        elif move < 0.75 and refs:
            number, ref = rng.choice(refs)
            right = rng.random() < 0.8
            answers = {
                _answer(side.engine.validate_code(
                    side.tokens[number][0], "127.0.0.1", ref,
                    side.codes[ref] if right else "000000" if side.codes[ref] != "000000"
                    else "111111"))
                for side in sides
            }
            assert len(answers) == 1, (step, answers)
        elif move < 0.8:
            number, prefix = rng.randrange(2), rng.choice(RANGES)[:6]
            released = {side.engine.release_range(side.tokens[number][1], prefix)
                        for side in sides}
            assert len(released) == 1, (step, released)
            seen["released"] += released.pop()
        elif move < 0.83:
            purged = {side.engine.purge() for side in sides}
            assert len(purged) == 1, (step, purged)
        else:
            how = rng.random()
            if how < 0.25:  # onto the next slice's edge
                clock.set(math.ceil(clock.now / SLICE + 1e-9) * SLICE)
            elif how < 0.4:  # just before it
                clock.set(math.nextafter(math.ceil(clock.now / SLICE + 1e-9) * SLICE, 0))
            elif how < 0.5:  # one window on, to the instant
                clock.advance(WINDOW)
            else:
                clock.advance(rng.uniform(0, 25))
        holds = [sorted((prefix, until) for _, prefix, until in side.engine.held_ranges())
                 for side in sides]
        assert all(hold == holds[0] for hold in holds), (step, holds)
    return seen


@pytest.mark.parametrize("seed", range(3))
def test_the_guard_decides_as_counting_every_code_does(
    sides: list[Side], seed: int, tmp_path: Path
) -> None:
    clock = sides[0].engine.clock
    assert isinstance(clock, FakeClock)
    seen = _play(sides, clock, seed, 500)
    # The history reached what it is about: holds, refusals, releases, failed sends.
    assert seen[str(catalogue.SUCCESS.code)] > 50
    assert seen[str(catalogue.FRAUD_HELD.code)] > 5
    assert seen[str(catalogue.INTERNAL_ERROR.code)] > 0
    assert seen["released"] > 0
    query = (TOTALS, CODES)
    conn = sqlite3.connect(tmp_path / "tfa.db")
    try:
        assert_totals_are_the_codes(*(conn.execute(sql).fetchall() for sql in query))
    finally:
        conn.close()
    store = sides[2].engine.store
    with store._read() as pg:  # type: ignore[attr-defined]
        assert_totals_are_the_codes(*(pg.execute(sql).fetchall() for sql in query))
