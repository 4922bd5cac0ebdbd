"""A send's admission and the sliding-window limits in memory (see :mod:`._memory`): the
look that writes nothing before a send (:meth:`preview_send`), the admission that judges
(:mod:`._admission`) and stores the code in one step under the lock, and the limits taken
or peeked at by key. Each key keeps the times of its last ``limit`` admitted events."""

from __future__ import annotations

from dataclasses import asdict

from ..gateways._base import UNDELIVERED
from ._admission import (
    allowance_refusal,
    counted,
    hold_refusal,
    limits_in_order,
    refused_request,
    traffic_since,
    trips,
)
from ._base import CodeStore, DuplicateClientRef, DuplicateMessageId, LimitStore, StoreError
from ._memory import MemoryState
from ._ranges import phone_range
from ._records import (
    FRAUD,
    NEVER,
    Admission,
    Allowance,
    CodeRecord,
    NewCode,
    Refusal,
    SendPolicy,
    SendPreview,
    retry_after,
)

_OPTIONAL = frozenset({"callback_url"})  # the only NewCode field that may be None


class MemoryAdmission(MemoryState, CodeStore, LimitStore):
    """A send's admission (of :class:`CodeStore`) and :class:`LimitStore` in memory."""

    # -- admission -------------------------------------------------------------------------
    def preview_send(
        self, token_id: str, client_ref: str, policy: SendPolicy, now: float,
        stale_before: float = NEVER,
    ) -> SendPreview:
        with self._lock:
            held = (self._holds.get((token_id, policy.fraud.prefix), (None, None))[0]
                    if policy.fraud is not None else None)
            return SendPreview(
                client_ref_taken=self._holder(token_id, client_ref, stale_before) is not None,
                refusal=allowance_refusal(limits_in_order(policy),
                                          self._oldest_of(policy, now), now)
                or hold_refusal(held, now),
            )

    def _oldest_of(self, policy: SendPolicy, now: float) -> dict[str, float | None]:
        oldest = {a.key: self._oldest(a.key, a.count) for a in counted(policy)}
        sends = policy.phone_sends
        if sends is not None and policy.phone is not None:
            # The phone's codes of every token that may have reached it, newest first.
            times = sorted((c.created_at for c in self._codes.values()
                            if c.phone == policy.phone and c.created_at > now - sends.seconds
                            and c.delivery_status not in UNDELIVERED), reverse=True)
            oldest[sends.key] = times[sends.count - 1] if len(times) >= sends.count else None
        return oldest

    def _undelivered(self, policy: SendPolicy, now: float) -> tuple[str, ...]:
        if policy.phone is None or policy.reroute is None:
            return ()
        failed: list[str] = []
        for code in self._codes.values():
            if (code.phone == policy.phone and code.created_at > now - policy.reroute
                    and code.delivery_status in UNDELIVERED and code.gateway is not None
                    and code.gateway not in failed):
                failed.append(code.gateway)
        return tuple(failed)

    def admit_code(
        self, code: NewCode, policy: SendPolicy, stale_before: float = NEVER
    ) -> Admission:
        missing = [name for name, value in asdict(code).items()
                   if value is None and name not in _OPTIONAL]
        if missing:
            raise StoreError(f"the code could not be stored: no {', '.join(missing)}")
        now = code.created_at
        with self._lock:
            key = (code.token_id, code.client_ref)
            if code.message_id in self._by_message:  # before anything is counted
                raise DuplicateMessageId(code.message_id)
            refusal = allowance_refusal(limits_in_order(policy),
                                        self._oldest_of(policy, now), now)
            if refused_request(policy, refusal):
                return Admission(refusal=refusal)
            if policy.requests is not None:  # counted whatever the answer now
                self._count(policy.requests, now)
            if self._holder(code.token_id, code.client_ref, stale_before) is not None:
                raise DuplicateClientRef(code.client_ref)
            if refusal is not None:
                return Admission(refusal=refusal)
            released = False
            rule = policy.fraud
            if rule is not None:
                held, released_at = self._holds.get((code.token_id, rule.prefix), (None, None))
                refusal = hold_refusal(held, now)
                if refusal is not None:
                    return Admission(refusal=refusal)
                if held is not None:  # its time is up: the range counts afresh
                    self._holds[(code.token_id, rule.prefix)] = (None, now)
                    released, released_at = True, now
                sent, validated = self._traffic(code.token_id, rule.prefix,
                                                traffic_since(rule, released_at, now))
                if trips(rule, sent, validated):
                    self._holds[(code.token_id, rule.prefix)] = (now + rule.window, released_at)
                    return Admission(refusal=Refusal(FRAUD, rule.window),
                                     fraud_held=(sent, validated), fraud_released=released)
            if key in self._by_ref:  # a code never sent, whose sender died
                self._forget(self._codes[self._by_ref[key]])
            code_id = self._next_id
            self._next_id += 1
            self._codes[code_id] = CodeRecord(**asdict(code), id=code_id)
            self._by_ref[key] = code_id
            self._by_message[code.message_id] = code_id
            self._by_range.setdefault((code.token_id, phone_range(code.phone)), set()).add(code_id)
            for allowance in policy.allowances:
                self._count(allowance, now)
            return Admission(code_id=code_id, fraud_released=released,
                             avoid=self._undelivered(policy, now))

    def _traffic(self, token_id: str, prefix: str, since: float) -> tuple[int, int]:
        codes = [code for code in map(self._codes.__getitem__,
                                      self._by_range.get((token_id, prefix), ()))
                 if code.created_at > since]
        return len(codes), sum(c.state == "used" for c in codes)

    # -- rate limits -----------------------------------------------------------------------
    def take(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        with self._lock:
            oldest = self._oldest(key, limit)
            if oldest is not None and oldest > now - seconds:
                return retry_after(oldest, seconds, now)
            self._count(Allowance(key, limit, seconds), now)
            return None

    def peek(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        with self._lock:
            oldest = self._oldest(key, limit)
        if oldest is not None and oldest > now - seconds:
            return retry_after(oldest, seconds, now)
        return None
