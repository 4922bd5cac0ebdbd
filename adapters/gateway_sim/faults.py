"""Trouble the simulator can be told to make, while it runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .validation import Error, error


@dataclass
class Faults:
    """Trouble to simulate on ``/v2/send``; change the attributes at any time.

    Attributes:
        latency: seconds to wait before answering each request normally (a slow gateway).
        hang: seconds to hold each request and then answer 503 without queuing anything (a
            stuck gateway: clients with a shorter read time-out see a time-out). 0 is off.
        fail_status: the HTTP status the next ``fail_next`` requests get, before auth.
        fail_next: how many requests still get ``fail_status``.
        force_429: how many authenticated requests still get a 429, whatever the limit.
        retry_after_ms: the ``RateLimit-Retry-After`` of those forced 429s.
    """

    latency: float = 0.0
    hang: float = 0.0
    fail_status: int = 500
    fail_next: int = 0
    force_429: int = 0
    retry_after_ms: int = 1000

    def reset(self) -> None:
        """Switch every fault off."""
        for spec in fields(self):
            setattr(self, spec.name, spec.default)

    def update(self, changes: Mapping[str, object]) -> list[Error]:
        """Apply ``changes`` (as sent to ``POST /_faults``); errors, and nothing applied, if bad."""
        errors: list[Error] = []
        accepted: dict[str, object] = {}
        for name, value in changes.items():
            if name == "reset":
                if not isinstance(value, bool):
                    errors.append(error("/reset", "should be boolean"))
                continue
            problem = _fault_problem(name, value)
            if problem:
                errors.append(error(f"/{name}", problem))
            else:
                accepted[name] = value
        if errors:
            return errors
        if changes.get("reset") is True:
            self.reset()
        for name, value in accepted.items():
            setattr(self, name, value)
        return []


def _fault_problem(name: str, value: object) -> str | None:
    """Why ``value`` cannot be fault ``name``, or None."""
    if name in ("latency", "hang"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "should be number"
        return None if 0 <= value < math.inf else "should be >= 0"
    if name in ("fail_next", "force_429", "retry_after_ms"):
        if isinstance(value, bool) or not isinstance(value, int):
            return "should be integer"
        return None if value >= 0 else "should be >= 0"
    if name == "fail_status":
        if isinstance(value, bool) or not isinstance(value, int):
            return "should be integer"
        return None if 400 <= value <= 599 else "should be an HTTP error status (400-599)"
    return "is not a known fault"
