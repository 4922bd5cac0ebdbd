"""Floors: what the hardware gives before any of our code runs.

argon2 verifications per second with the engine's own hasher on 1 and 2 processes, and
raw SQLite insert+commit per second (WAL, ``synchronous=NORMAL``). The HTTP floor (a
bare Falcon app) is measured with the load generator, see :mod:`benchmarks.echo_server`.
"""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import time
from pathlib import Path
from typing import Any

from tfa_engine._hashing import CodeHasher

CODE = "123456"
MAX_VERIFICATIONS = 1_000_000  # per process and run: a bound, never reached at argon2 speeds
MAX_INSERTS = 10_000_000


def _verify_loop(profile: str, pepper: str, duration: float, ready: Any, go: Any,
                 results: Any) -> None:
    """Worker: verify one code for ``duration`` seconds, report (count, seconds)."""
    hasher = CodeHasher(profile, pepper)
    phc = hasher.hash(CODE)
    ready.put(True)
    go.wait(60)
    began = time.perf_counter()
    count = 0
    while count < MAX_VERIFICATIONS and time.perf_counter() - began < duration:
        if not hasher.verify(phc, CODE):
            raise RuntimeError("argon2 verification failed")
        count += 1
    results.put((count, time.perf_counter() - began))


def argon2_verify_rate(
    profile: str, pepper: str, processes: int, duration: float
) -> dict[str, Any]:
    """Verifications per second summed over ``processes`` processes verifying at once."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=_verify_loop, args=(profile, pepper, duration, ready, go, results))
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            worker.start()
        for _ in workers:
            ready.get(timeout=120)
        go.set()
        counts = [results.get(timeout=duration + 120) for _ in workers]
    except queue.Empty:
        raise RuntimeError("an argon2 worker did not report in time") from None
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    rate = sum(count / seconds for count, seconds in counts)
    return {
        "processes": processes,
        "verifications": sum(count for count, _ in counts),
        "elapsed_s": max(seconds for _, seconds in counts),
        "rate": rate,
        "ms_per_verify": 1000 * processes / rate if rate else None,
    }


def sqlite_commit_rate(path: Path, duration: float) -> dict[str, Any]:
    """Single-row transactions (``BEGIN IMMEDIATE``; INSERT; COMMIT) per second, raw sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS codes (id INTEGER PRIMARY KEY, client_ref TEXT UNIQUE,"
            " phone TEXT, code_hash TEXT, created_at REAL)"
        )
        (start,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM codes").fetchone()
        code_hash = "$argon2id$v=19$m=19456,t=2,p=1$" + "x" * 66
        began = time.perf_counter()
        count = 0
        while count < MAX_INSERTS and time.perf_counter() - began < duration:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO codes (client_ref, phone, code_hash, created_at) VALUES (?,?,?,?)",
                (f"ref-{start + count}", "+447911123456", code_hash, time.time()),
            )
            conn.execute("COMMIT")
            count += 1
        elapsed = time.perf_counter() - began
    finally:
        conn.close()
    return {
        "commits": count,
        "elapsed_s": elapsed,
        "rate": count / elapsed,
        "us_per_commit": 1e6 * elapsed / count if count else None,
    }
