"""Fault: write contention on one SQLite file. 8 writer threads (request a code) and 8
validator threads (right, wrong and repeated codes) run through the engine for 30 s.

The file is shared by four engines, each with a SQLiteStore of its own, each used by two
writers and two validators. That is the harder of the two set-ups and covers the other:
threads of one store queue on its in-process write lock (what one ``tfa serve`` does),
while the four stores meet only in SQLite's own locking and busy timeout, as the
processes of ``tfa serve --workers 4`` on one file do. A code written through one engine
is usually validated through another.

Every call must give the answer its situation calls for: no exception, no -65/500, and
no "database is locked" escaping as StoreUnavailable (-78) either.
"""

from __future__ import annotations

import itertools
import queue
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from attack_kit import IP, gateway_of, issue, make_engine, send

from tfa_engine import Engine, RateLimit, SQLiteStore, catalogue

DURATION = 30.0
ENGINES = 4
WRITERS_PER_ENGINE = 2
VALIDATORS_PER_ENGINE = 2
OUT_OF_THE_WAY = RateLimit(10_000_000, 60)


@dataclass(frozen=True)
class Issued:
    """A code a writer got sent: who validates it needs nothing else."""

    ref: str
    code: str


def wrong(code: str) -> str:
    """Another code of the same length and alphabet."""
    return ("B" if code[0] == "A" else "A") + code[1:]


@pytest.mark.slow
def test_8_writers_and_8_validators_for_30_s_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "contended.db"
    engines: list[Engine] = []
    for _ in range(ENGINES):
        engines.append(make_engine(
            SQLiteStore(path), limit_phone_sends=OUT_OF_THE_WAY,
            limit_token_requests=OUT_OF_THE_WAY, limit_token_sms=OUT_OF_THE_WAY,
            limit_phone_failures=OUT_OF_THE_WAY, fraud_min_sends=10**9,
        ))
    token = issue(engines[0], "contention").token
    work: queue.Queue[Issued] = queue.Queue()
    failures: list[str] = []
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    numbers = itertools.count()
    stop_at = time.monotonic() + DURATION
    written = threading.Event()  # every writer has finished

    def failed(what: str) -> None:
        with lock:
            failures.append(what)

    def tally(what: str) -> None:
        with lock:
            counts[what] += 1

    def writer(engine: Engine) -> None:
        while time.monotonic() < stop_at:
            with lock:
                number = next(numbers)
            ref = f"w-{number}"
            try:
                outcome = send(engine, token, ref, f"+4474007{number:05d}")
            except Exception as exc:
                failed(f"request_code raised {exc!r}")
                continue
            if outcome.status != catalogue.SUCCESS:
                failed(f"request_code: {outcome.status}")
                continue
            tally("sent")
            work.put(Issued(ref, gateway_of(engine).code_of(outcome.result["message_id"])))

    def check(engine: Engine, ref: str, code: str, expected: catalogue.Status) -> bool:
        try:
            outcome = engine.validate_code(token, IP, ref, code)
        except Exception as exc:
            failed(f"validate_code raised {exc!r}")
            return False
        if outcome.status != expected:
            failed(f"validate_code {ref}: {outcome.status.code}, not {expected.code}")
            return False
        tally(expected.name)
        return True

    def validator(engine: Engine, number: int) -> None:
        turn = 0
        while not (written.is_set() and work.empty()):
            try:
                issued = work.get(timeout=0.2)
            except queue.Empty:
                continue
            turn += 1
            if turn % 3 == number % 3 and not check(
                engine, issued.ref, wrong(issued.code), catalogue.DECLINED
            ):
                continue
            if check(engine, issued.ref, issued.code, catalogue.VALID):
                check(engine, issued.ref, issued.code, catalogue.INVALID)

    writers, validators = [], []
    for index, engine in enumerate(engines):
        writers += [threading.Thread(target=writer, args=(engine,), daemon=True)
                    for _ in range(WRITERS_PER_ENGINE)]
        validators += [threading.Thread(target=validator, args=(engine, index * 2 + n),
                                        daemon=True) for n in range(VALIDATORS_PER_ENGINE)]
    try:
        for thread in writers + validators:
            thread.start()
        for thread in writers:
            thread.join(timeout=DURATION + 60)
        written.set()
        for thread in validators:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in writers + validators)
    finally:
        written.set()
        for engine in engines:
            engine.store.close()

    assert failures == [], f"{len(failures)} failures, first: {failures[:5]}"
    # Real contention: hundreds of codes written and validated from every side.
    assert counts["sent"] >= 500, counts
    assert counts["VALID"] == counts["INVALID"] == counts["sent"], counts
    assert counts["DECLINED"] >= counts["sent"] // 4, counts
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = dict(db.execute("SELECT state, count(*) FROM codes GROUP BY state").fetchall())
    db.close()
    assert states == {"used": counts["sent"]}
