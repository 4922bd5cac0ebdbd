"""What the fraud guard's running totals (``range_traffic``) must hold, counted from the
codes themselves (importable from every test directory)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tfa_engine.store._ranges import SLICE

# The queries both sides are read with, on either SQL store.
TOTALS = "SELECT token_id, prefix, slice, sent, used FROM range_traffic"
CODES = "SELECT token_id, number_range, created_at, state FROM codes"


def counted(codes: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(codes, used ones) per (token, range, slice), from (token, range, created_at, state)
    rows."""
    found: dict[tuple[Any, ...], tuple[int, int]] = {}
    for token_id, number_range, created_at, state in codes:
        key = (token_id, number_range, math.floor(created_at / SLICE))
        sent, used = found.get(key, (0, 0))
        found[key] = (sent + 1, used + (state == "used"))
    return found


def assert_totals_are_the_codes(totals: Iterable[tuple[Any, ...]],
                                codes: Iterable[tuple[Any, ...]]) -> None:
    """The rows of :data:`TOTALS` are what counting the rows of :data:`CODES` says (a total
    no code is left in may stay at zero until a purge)."""
    kept = {tuple(row[:3]): tuple(row[3:]) for row in totals if row[3] != 0}
    assert kept == counted(codes)
