"""Races between threads, for the tests of what must hold however many callers collide.

Importable from every test directory (pytest's ``pythonpath`` holds ``tests/support``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
START_TIMEOUT = 30.0  # seconds for every thread of a race to reach the start line


def race(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` for i in ``range(count)`` on ``count`` threads released together
    by a barrier; the results in order (the first exception is raised)."""
    barrier = threading.Barrier(count, timeout=START_TIMEOUT)

    def run(index: int) -> T:
        barrier.wait()
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
