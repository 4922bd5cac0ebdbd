"""The judgements of a send's admission, the same for every backend: each backend reads the
state in its own way (inside the transaction that stores the code) and asks these."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ._base import FRAUD, Allowance, FraudRule, Refusal, SendPolicy, retry_after


def allowance_refusal(
    allowances: tuple[Allowance, ...], oldest: Mapping[str, float | None], now: float
) -> Refusal | None:
    """The first allowance used up at ``now``. ``oldest`` maps a key to the time of the send
    ``count`` sends back (None while fewer were counted): while that one is still inside the
    window, another would make ``count + 1``."""
    for allowance in allowances:
        admitted_at = oldest.get(allowance.key)
        if admitted_at is not None and admitted_at > now - allowance.seconds:
            return Refusal(allowance.key, retry_after(admitted_at, allowance.seconds, now))
    return None


def hold_refusal(held_until: float | None, now: float) -> Refusal | None:
    """The refusal while a hold is in force."""
    if held_until is None or held_until <= now:
        return None
    return Refusal(FRAUD, max(1, math.ceil(held_until - now)))


def traffic_since(rule: FraudRule, released_at: float | None, now: float) -> float:
    """The codes the guard counts are those made after this: within the window, and from
    the range's last release on (a code made at that very instant included)."""
    since = now - rule.window
    if released_at is not None:
        since = max(since, math.nextafter(released_at, -math.inf))
    return since


def trips(rule: FraudRule, sent: int, validated: int) -> bool:
    """True when ``sent`` codes of which ``validated`` were validated call for a hold: enough
    of them, converting too little. Traffic that converts normally is never held."""
    return sent >= rule.min_sends and validated * 100 < rule.min_conversion * sent


def limits_in_order(policy: SendPolicy) -> tuple[Allowance, ...]:
    """The limits a send must pass, in the order their refusals come: the request's own,
    the phone's sends, then the allowances (budgets)."""
    first = tuple(a for a in (policy.requests, policy.phone_sends) if a is not None)
    return (*first, *policy.allowances) if first else policy.allowances


def counted(policy: SendPolicy) -> tuple[Allowance, ...]:
    """The allowances whose rings a send reads and uses up: the request's, then the
    budgets (the phone's sends are counted from its codes)."""
    if policy.requests is None:
        return policy.allowances
    return (policy.requests, *policy.allowances)


def refused_request(policy: SendPolicy, refusal: Refusal | None) -> bool:
    """True when ``refusal`` is that of the request's own limit (which counts nothing)."""
    return (refusal is not None and policy.requests is not None
            and refusal.by == policy.requests.key)
