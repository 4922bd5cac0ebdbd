"""What stands between a valid request and an SMS: rate limits, destination allowlists,
SMS budgets and the fraud guard (SMS pumping controls).

Each check refuses before any gateway call and consumes no client_ref. The first failure
wins, in this order: destination (-75), the phone's send limit (-70), budgets (-76), the
fraud guard (-77). The limits, budgets and guard are judged by the store in the one
transaction that stores the code (:meth:`~tfa_engine.store.Store.admit_code`): a send
they refuse, or a duplicate of its client_ref, uses up nothing, however many race. Every
refusal is an audit event. ``rate_limits=False`` (benchmarks) turns every limit, budget
and the guard off.
"""

from __future__ import annotations

import phonenumbers

from . import _audit as audit
from . import catalogue
from ._access import TokenRecord
from ._outcome import Outcome
from .catalogue import Status
from .config import EngineConfig, RateLimit
from .store import (
    FRAUD,
    Allowance,
    FraudRule,
    Refusal,
    SendPolicy,
    Store,
    Window,
    requests_key,
)

# libphonenumber's region of the country calling codes that belong to no country: +800,
# +808, +870, +881, +882, +883, +888, +979 (satellite and international networks, where
# SMS pumping thrives). No allowlist admits them unless it names them.
NON_GEOGRAPHIC = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY


def destination_allowed(e164: str, entries: tuple[str, ...], region: str | None) -> bool:
    """True when no allowlist is set, or the number is in one of its regions or starts
    with one of its prefixes."""
    if not entries:
        return True
    if any(e164.startswith(entry) for entry in entries if entry.startswith("+")):
        return True
    return region in entries


def names_explicitly(e164: str, entries: tuple[str, ...]) -> bool:
    """True when an allowlist names the number by a prefix of it, or names ``001``."""
    return NON_GEOGRAPHIC in entries or any(
        e164.startswith(entry) for entry in entries if entry.startswith("+")
    )


class SendGate:
    """Decides whether a token may send a code to a phone now (``Engine`` holds one)."""

    def __init__(self, store: Store, config: EngineConfig) -> None:
        self.store = store
        self.config = config

    def _limited(self, limit: RateLimit | None, key: str, now: float, *,
                 count: bool) -> Outcome | None:
        if limit is None or not self.config.rate_limits:
            return None
        check = self.store.take if count else self.store.peek
        wait = check(key, limit.count, limit.seconds, now)
        return None if wait is None else Outcome(catalogue.RATE_LIMITED, retry_after=wait)

    def take(self, limit: RateLimit | None, key: str, now: float) -> Outcome | None:
        """Count one event against ``limit``; the refusal (-70) when it is used up."""
        return self._limited(limit, key, now, count=True)

    def peek(self, limit: RateLimit | None, key: str, now: float) -> Outcome | None:
        """The refusal (-70) when ``limit`` is used up, counting nothing."""
        return self._limited(limit, key, now, count=False)

    def allowance(self, limit: RateLimit | None, key: str) -> Allowance | None:
        """``limit`` as an allowance of ``key`` for the store to take, None when off."""
        if limit is None or not self.config.rate_limits:
            return None
        return Allowance(key, limit.count, limit.seconds)

    def window(self, limit: RateLimit | None) -> Window | None:
        """``limit`` as a window for the store to find the key of, None when off."""
        if limit is None or not self.config.rate_limits:
            return None
        return Window(limit.count, limit.seconds)

    def limit_requests(self, token: TokenRecord, now: float) -> Outcome | None:
        """Count a request of the token (every authenticated request counts)."""
        return self.take(self.config.limit_token_requests, requests_key(token.id), now)

    def destination_refused(self, token: TokenRecord, phone: str, region: str | None) -> bool:
        """True when the service's or the token's allowlist leaves the number out (in
        ``region``, its ISO 3166 region); a number of no country must be named by one of
        them."""
        service, own = self.config.allowed_destinations, token.allowed_destinations
        if not (destination_allowed(phone, service, region)
                and destination_allowed(phone, own, region)):
            return True
        return region == NON_GEOGRAPHIC and not (
            names_explicitly(phone, service) or names_explicitly(phone, own)
        )

    def policy(self, token: TokenRecord, phone: str, number_range: str, *,
               count_request: bool = True) -> SendPolicy:
        """The limits, budgets and fraud rule a send of the token to the phone (whose
        :func:`~tfa_engine.store._ranges.phone_range` the fraud guard watches) must pass,
        and how far back to look for gateways that failed to deliver to the phone (the
        phone's send window: a user who asks again within it should get the code by
        another gateway of the route). ``count_request``: the request itself is counted
        against the token's request limit with the send (not when it was already)."""
        config = self.config
        reroute = config.limit_phone_sends.seconds if config.limit_phone_sends else 600
        if not config.rate_limits:
            return SendPolicy(phone=phone, reroute=reroute)
        budgets = (
            (token.sms_budget or config.limit_token_sms, f"sms-token:{token.id}"),
            (config.limit_service_sms, "sms-service"),
        )
        allowances = tuple(
            Allowance(key, limit.count, limit.seconds) for limit, key in budgets if limit
        )
        fraud = None
        if config.fraud_guard:
            fraud = FraudRule(number_range, config.fraud_window, config.fraud_min_sends,
                              config.fraud_min_conversion)
        requests = None
        if count_request:
            requests = self.allowance(config.limit_token_requests, requests_key(token.id))
        return SendPolicy(allowances, fraud, phone=phone,
                          phone_sends=self.allowance(config.limit_phone_sends,
                                                     f"phone-sends:{phone}"),
                          reroute=reroute, requests=requests)

    @staticmethod
    def refused(refusal: Refusal, where: dict[str, str | None]) -> Outcome:
        """The answer to a send the store refused, audited."""
        if refusal.by == FRAUD:
            return Outcome(catalogue.FRAUD_HELD, retry_after=refusal.retry_after)
        kind = refusal.by.split(":", 1)[0]
        status: Status = catalogue.RATE_LIMITED
        if kind.startswith("sms-"):
            status = catalogue.BUDGET_EXHAUSTED
            audit.event("budget.exhausted", budget=kind, **where)
        else:
            audit.event("rate.limited", limit=kind, **where)
        return Outcome(status, retry_after=refusal.retry_after)
