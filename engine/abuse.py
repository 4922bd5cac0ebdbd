"""What stands between a valid request and an SMS: rate limits, destination allowlists,
SMS budgets and the fraud guard (SMS pumping controls).

Each check refuses before any gateway call and consumes no client_ref. The first failure
wins, in this order: destination (-75), rate limits (-70), budgets (-76), fraud guard
(-77). Counters are looked at first and counted only once every check has passed, so a
send refused by a later check uses up no earlier allowance. Every refusal is an audit
event. ``rate_limits=False`` (benchmarks) turns every limit, budget and the guard off.

The fraud guard judges again once the code is stored, just before it is sent
(:meth:`SendGate.fraud_recheck`): parallel requests all pass the first judgement before
any of their codes is stored, and only the second sees them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import phonenumbers

from . import audit, catalogue
from .access import TokenRecord
from .catalogue import Status
from .config import EngineConfig, RateLimit
from .outcome import Outcome
from .store import Store

Check = Callable[[str, int, int, float], "int | None"]


def number_range(e164: str) -> str:
    """The range the fraud guard watches: the country code and the next three digits
    (``+447911123456`` → ``+44791``)."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    return f"+{number.country_code}{national[:3]}"


def destination_allowed(e164: str, entries: tuple[str, ...]) -> bool:
    """True when no allowlist is set, or the number is in one of its regions or starts
    with one of its prefixes."""
    if not entries:
        return True
    if any(e164.startswith(entry) for entry in entries if entry.startswith("+")):
        return True
    regions = {entry for entry in entries if not entry.startswith("+")}
    if not regions:
        return False
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return region in regions


class SendGate:
    """Decides whether a token may send a code to a phone now (``Engine`` holds one)."""

    def __init__(self, store: Store, config: EngineConfig) -> None:
        self.store = store
        self.config = config

    def _limited(self, check: Check, limit: RateLimit | None, key: str, now: float,
                 status: Status = catalogue.RATE_LIMITED) -> Outcome | None:
        if limit is None or not self.config.rate_limits:
            return None
        wait = check(key, limit.count, limit.seconds, now)
        return None if wait is None else Outcome(status, retry_after=wait)

    def take(self, limit: RateLimit | None, key: str, now: float,
             status: Status = catalogue.RATE_LIMITED) -> Outcome | None:
        """Count one event against ``limit``; the refusal when it is used up."""
        return self._limited(self.store.take, limit, key, now, status)

    def peek(self, limit: RateLimit | None, key: str, now: float,
             status: Status = catalogue.RATE_LIMITED) -> Outcome | None:
        """The refusal when ``limit`` is used up, counting nothing."""
        return self._limited(self.store.peek, limit, key, now, status)

    def limit_requests(self, token: TokenRecord, now: float) -> Outcome | None:
        """Count a request of the token (every request counts, sent or not)."""
        return self.take(self.config.limit_token_requests, f"token:{token.id}", now)

    def _counters(self, token: TokenRecord, phone: str) -> list[tuple[RateLimit | None, str,
                                                                    Status]]:
        config = self.config
        return [
            (config.limit_phone_sends, f"phone-sends:{phone}", catalogue.RATE_LIMITED),
            (token.sms_budget or config.limit_token_sms, f"sms-token:{token.id}",
             catalogue.BUDGET_EXHAUSTED),
            (config.limit_service_sms, "sms-service", catalogue.BUDGET_EXHAUSTED),
        ]

    def admit(
        self, token: TokenRecord, phone: str, client_ip: str | None, now: float
    ) -> Outcome | None:
        """None when the code may be sent (its sends then counted), else the refusal."""
        where = {"token_id": token.id, "client_ip": client_ip, "phone": phone}
        if not (destination_allowed(phone, self.config.allowed_destinations)
                and destination_allowed(phone, token.allowed_destinations)):
            audit.event("destination.refused", **where)
            return Outcome(catalogue.DESTINATION_REFUSED)
        counters = self._counters(token, phone)
        for limit, key, status in counters:
            refused = self.peek(limit, key, now, status)
            if refused is not None:
                return self._refused(refused, key, where)
        held = self.fraud_hold(token, phone, client_ip, now)
        if held is not None:
            return held
        for limit, key, status in counters:
            refused = self.take(limit, key, now, status)
            if refused is not None:  # another request took the last place meanwhile
                return self._refused(refused, key, where)
        return None

    @staticmethod
    def _refused(refused: Outcome, key: str, where: dict[str, str | None]) -> Outcome:
        if refused.status == catalogue.BUDGET_EXHAUSTED:
            audit.event("budget.exhausted", budget=key.split(":", 1)[0], **where)
        else:
            audit.event("rate.limited", limit=key.split(":", 1)[0], **where)
        return refused

    # -- the fraud guard ---------------------------------------------------------------------
    def fraud_hold(
        self, token: TokenRecord, phone: str, client_ip: str | None, now: float
    ) -> Outcome | None:
        """-77 while the token's sends to the phone's range are held, or when its recent
        traffic there does not convert (the hold then starts)."""
        if not (self.config.fraud_guard and self.config.rate_limits):
            return None
        prefix = number_range(phone)
        held_until, released_at = self.store.range_hold(token.id, prefix)
        if held_until is not None:
            if held_until > now:
                wait = max(1, math.ceil(held_until - now))
                return Outcome(catalogue.FRAUD_HELD, retry_after=wait)
            if self.store.release_range(token.id, prefix, now, expired_by=now):
                audit.event("fraud.released", token_id=token.id, range=prefix, by="expiry")
            released_at = now
        return self._judge(token, phone, prefix, released_at, client_ip, now, stored=0)

    def fraud_recheck(
        self, token: TokenRecord, phone: str, client_ip: str | None, now: float
    ) -> Outcome | None:
        """The guard's judgement once this send's code is stored (not yet sent), with it
        and every code stored meanwhile by parallel requests counted: -77 when the range
        is held by now, or when the codes stored before this one are already as many as
        the guard lets through unconverted. So at most ``fraud_min_sends`` unconverted
        codes go out, however many requests race."""
        if not (self.config.fraud_guard and self.config.rate_limits):
            return None
        prefix = number_range(phone)
        held_until, released_at = self.store.range_hold(token.id, prefix)
        if held_until is not None and held_until > now:
            return Outcome(catalogue.FRAUD_HELD, retry_after=max(1, math.ceil(held_until - now)))
        return self._judge(token, phone, prefix, released_at, client_ip, now, stored=1)

    def _judge(
        self, token: TokenRecord, phone: str, prefix: str, released_at: float | None,
        client_ip: str | None, now: float, *, stored: int,
    ) -> Outcome | None:
        """-77 (and the hold) when the range's traffic since the window's start or the
        last release, less the ``stored`` codes of this send, is at least ``min_sends``
        and converts below ``min_conversion``."""
        window = self.config.fraud_window
        since = now - window
        if released_at is not None:
            # Codes from the release on count: one made at that very instant (the send
            # that found the hold over is one) must not slip through uncounted.
            since = max(since, math.nextafter(released_at, -math.inf))
        sent, validated = self.store.range_activity(token.id, prefix, since)
        sent -= stored
        if sent < self.config.fraud_min_sends:
            return None
        if validated * 100 >= self.config.fraud_min_conversion * sent:
            return None
        if self.store.hold_range(token.id, prefix, now + window):
            audit.event("fraud.held", token_id=token.id, client_ip=client_ip, phone=phone,
                        range=prefix, sent=sent, validated=validated)
        return Outcome(catalogue.FRAUD_HELD, retry_after=window)
