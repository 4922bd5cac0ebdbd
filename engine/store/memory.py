"""An in-process store for tests and embedding: the same contract under one lock.

Nothing survives the process, and nothing is shared with another one: use it where a
single process owns the state (tests, a demo, a short-lived tool).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from .._access import TokenRecord
from ..gateways._base import UNDELIVERED
from ._admin import AdminEvent
from ._admission import (
    allowance_refusal,
    counted,
    hold_refusal,
    limits_in_order,
    refused_request,
    traffic_since,
    trips,
)
from ._base import (
    FRAUD,
    NEVER,
    Activation,
    Admission,
    Allowance,
    CallbackJob,
    CodeRecord,
    CodeState,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    DuplicateTokenName,
    NewCode,
    Recorded,
    Refusal,
    SendPolicy,
    SendPreview,
    Store,
    StoreError,
    retry_after,
)
from ._meta import MetaStore
from ._ranges import phone_range
from ._validation import (
    RequestLimited,
    Validation,
    Window,
    failures_key,
    requests_key,
)

__all__ = ["MemoryStore"]

_OPTIONAL = frozenset({"callback_url"})  # the only NewCode field that may be None


@dataclass
class _Callback:
    """One outbox entry."""

    job: CallbackJob
    state: str
    due: float
    created_at: float


class MemoryStore(MetaStore, Store):
    """Keeps everything in dictionaries; thread-safe, single-process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tokens: dict[str, TokenRecord] = {}
        self._codes: dict[int, CodeRecord] = {}
        self._by_ref: dict[tuple[str, str], int] = {}
        self._by_message: dict[str, int] = {}
        self._next_id = 1
        self._outbox: dict[int, _Callback] = {}
        self._next_callback_id = 1
        # key -> times of the last admitted events (at most ``limit``), and when unneeded
        self._events: dict[str, tuple[deque[float], float]] = {}
        # (token id, prefix) -> (held until, released at)
        self._holds: dict[tuple[str, str], tuple[float | None, float | None]] = {}
        # (token id, number range) -> its codes' ids: the fraud guard counts only those
        self._by_range: dict[tuple[str, str], set[int]] = {}
        self._meta: dict[str, str] = {}
        self._admin_events: list[AdminEvent] = []  # in the order they were added

    # -- tokens ----------------------------------------------------------------------------
    def add_token(self, record: TokenRecord) -> None:
        with self._lock:
            if record.id in self._tokens or any(
                t.token_hash == record.token_hash for t in self._tokens.values()
            ):
                raise DuplicateToken(record.id)
            self._check_name(record)
            self._tokens[record.id] = record

    def _check_name(self, record: TokenRecord) -> None:
        if record.revoked:
            return
        for other in self._tokens.values():
            if other.id != record.id and other.name == record.name and not other.revoked:
                raise DuplicateTokenName(record.name)

    def put_token(self, record: TokenRecord) -> None:
        with self._lock:
            for other in self._tokens.values():
                if other.id != record.id and other.token_hash == record.token_hash:
                    raise DuplicateToken(record.id)
            self._check_name(record)
            old = self._tokens.get(record.id)
            if old is not None:
                record = replace(record, last_used_at=old.last_used_at)
            self._tokens[record.id] = record

    def touch_token(self, token_id: str, now: float) -> None:
        with self._lock:
            record = self._tokens.get(token_id)
            if record is not None:
                self._tokens[token_id] = replace(record, last_used_at=now)

    def token_by_digest(self, digest: str) -> TokenRecord | None:
        with self._lock:
            return next((t for t in self._tokens.values() if t.token_hash == digest), None)

    def list_tokens(self) -> list[TokenRecord]:
        with self._lock:
            return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.id))

    def revoke_token(self, token_id: str, now: float) -> bool:
        with self._lock:
            record = self._tokens.get(token_id)
            if record is None or record.revoked:
                return False
            self._tokens[token_id] = replace(record, revoked_at=now)
            return True

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        with self._lock:
            yield

    # -- codes -----------------------------------------------------------------------------
    def _holder(self, token_id: str, client_ref: str, stale_before: float) -> CodeRecord | None:
        code_id = self._by_ref.get((token_id, client_ref))
        record = None if code_id is None else self._codes[code_id]
        if (record is not None and record.sent_at is None
                and record.state in ("pending", "superseded")
                and record.created_at <= stale_before):
            return None  # never sent, and its sender died: it holds nothing
        return record

    def client_ref_taken(
        self, token_id: str, client_ref: str, stale_before: float = NEVER
    ) -> bool:
        with self._lock:
            return self._holder(token_id, client_ref, stale_before) is not None

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

    def activate_code(
        self, code_id: int, now: float, gateway: str | None = None,
        provider_id: str | None = None,
    ) -> Activation:
        with self._lock:
            mine = self._codes.get(code_id)
            if mine is None:
                raise StoreError(f"code {code_id} is not stored")
            newer_live = False
            for other in list(self._codes.values()):
                if other.token_id != mine.token_id or other.phone != mine.phone:
                    continue
                if other.id < code_id and other.state in ("live", "pending"):
                    self._codes[other.id] = replace(other, state="superseded")
                elif other.id > code_id and other.state == "live":
                    newer_live = True
            if mine.sent_at is not None:
                return Activation(mine.state)
            state: CodeState = mine.state
            if state == "pending":
                state = "superseded" if newer_live else "live"
            mine = self._codes[code_id] = replace(mine, state=state, sent_at=now,
                                                  gateway=gateway, provider_id=provider_id)
            if mine.callback_url is not None:
                self._enqueue(mine, "INTERNAL", "ACCEPTD", now)
                if mine.delivery_status is not None:
                    self._enqueue(mine, "SMS", mine.delivery_status, mine.delivered_at or now)
            return Activation(state, mine.delivery_status)

    def record_delivery(self, message_id: str, status: str, at: float) -> Recorded | None:
        with self._lock:
            code_id = self._by_message.get(message_id)
            record = None if code_id is None else self._codes[code_id]
            if record is None or record.delivery_status == status:
                return None
            record = self._codes[record.id] = replace(
                record, delivery_status=status, delivered_at=at
            )
            if record.sent_at is not None and record.callback_url is not None:
                self._enqueue(record, "SMS", status, at)
            return Recorded(record.gateway)

    def message_of(self, gateway: str, provider_id: str) -> str | None:
        with self._lock:
            return next((c.message_id for c in self._codes.values()
                         if c.gateway == gateway and c.provider_id == provider_id), None)

    def _enqueue(self, record: CodeRecord, kind: str, status: str, at: float) -> None:
        assert record.callback_url is not None
        job = CallbackJob(
            id=self._next_callback_id, token_id=record.token_id, message_id=record.message_id,
            url=record.callback_url, attempts=0, kind=kind, status=status, at=at,
        )
        self._next_callback_id += 1
        self._outbox[job.id] = _Callback(job, "pending", at, at)

    def discard_code(self, code_id: int) -> None:
        with self._lock:
            record = self._codes.get(code_id)
            if (record is not None and record.sent_at is None
                    and record.state in ("pending", "superseded")):
                self._forget(record)

    def _forget(self, record: CodeRecord) -> None:
        del self._codes[record.id]
        del self._by_ref[(record.token_id, record.client_ref)]
        del self._by_message[record.message_id]
        filed = (record.token_id, phone_range(record.phone))
        self._by_range[filed].discard(record.id)
        if not self._by_range[filed]:
            del self._by_range[filed]

    def find_code(self, token_id: str, client_ref: str) -> CodeRecord | None:
        with self._lock:
            code_id = self._by_ref.get((token_id, client_ref))
            return None if code_id is None else self._codes[code_id]

    def _open(self, code_id: int, now: float, max_attempts: int) -> CodeRecord | None:
        record = self._codes.get(code_id)
        if record is None or not record.is_live(now) or record.attempts >= max_attempts:
            return None
        return record

    def look_up_validation(
        self, digest: str, client_ref: str | None, now: float,
        requests: Window | None = None, failures: Window | None = None,
    ) -> Validation:
        with self._lock:
            token = self.token_by_digest(digest)
            if token is None:
                return Validation()
            code = None if client_ref is None else self.find_code(token.id, client_ref)
            return Validation(
                token=token, code=code,
                requests_wait=self._wait(requests_key(token.id), requests, now),
                failures_wait=None if code is None else self._wait(
                    failures_key(token.id, code.phone), failures, now),
            )

    def _wait(self, key: str, window: Window | None, now: float) -> int | None:
        return None if window is None else self.peek(key, window.count, window.seconds, now)

    def _take_request(self, request: Allowance | None, now: float) -> None:
        if request is not None:
            wait = self.take(request.key, request.count, request.seconds, now)
            if wait is not None:
                raise RequestLimited(wait)

    def consume_code(
        self, code_id: int, now: float, max_attempts: int, request: Allowance | None = None
    ) -> bool:
        with self._lock:
            self._take_request(request, now)
            record = self._open(code_id, now, max_attempts)
            if record is None:
                return False
            self._codes[code_id] = replace(record, state="used")
            return True

    def count_failure(
        self, code_id: int, now: float, max_attempts: int, failures: Allowance | None = None,
        request: Allowance | None = None,
    ) -> int | None:
        with self._lock:
            self._take_request(request, now)
            record = self._open(code_id, now, max_attempts)
            if record is None:
                return None
            attempts = record.attempts + 1
            state = "locked" if attempts >= max_attempts else record.state
            self._codes[code_id] = replace(record, attempts=attempts, state=state)
            if failures is not None:
                self._count(failures, now)
            return attempts

    # -- callback outbox -------------------------------------------------------------------
    def claim_callbacks(
        self, now: float, limit: int, lease: float, claim: str = ""
    ) -> list[CallbackJob]:
        claim = claim or uuid.uuid4().hex
        with self._lock:
            due = [e for e in self._outbox.values() if e.state == "pending" and e.due <= now]
            claimed = []
            for entry in due[:limit]:
                entry.due = now + lease
                entry.job = replace(entry.job, claim=claim)
                code_id = self._by_message.get(entry.job.message_id)
                code = None if code_id is None else self._codes[code_id]
                claimed.append(entry.job if code is None else replace(
                    entry.job, api_job_id=code.api_job_id, phone=code.phone,
                    sender=code.sender, client_ref=code.client_ref,
                ))
            return claimed

    def _held(self, job_id: int, claim: str | None) -> _Callback | None:
        entry = self._outbox.get(job_id)
        if entry is None or (claim is not None and entry.job.claim != claim):
            return None
        return entry

    def renew_callback(self, job: CallbackJob, until: float) -> bool:
        with self._lock:
            entry = self._held(job.id, job.claim)
            if entry is None or entry.state != "pending":
                return False
            entry.due = until
            return True

    def callback_delivered(self, job_id: int, claim: str | None = None) -> None:
        with self._lock:
            entry = self._held(job_id, claim)
            if entry is not None:
                entry.state = "delivered"

    def callback_failed(
        self, job_id: int, error: str, retry_at: float | None, claim: str | None = None
    ) -> None:
        with self._lock:
            entry = self._held(job_id, claim)
            if entry is None:
                return
            entry.job = replace(entry.job, attempts=entry.job.attempts + 1)
            if retry_at is None:
                entry.state = "failed"
            else:
                entry.due = retry_at

    def callback_states(self, message_id: str) -> list[tuple[str, int]]:
        with self._lock:
            return [
                (entry.state, entry.job.attempts)
                for _, entry in sorted(self._outbox.items())
                if entry.job.message_id == message_id
            ]

    def pending_callbacks(self) -> int:
        with self._lock:
            return sum(entry.state == "pending" for entry in self._outbox.values())

    # -- rate limits -----------------------------------------------------------------------
    def _oldest(self, key: str, limit: int) -> float | None:
        events = self._events.get(key)
        if events is None or len(events[0]) < limit:
            return None
        return events[0][-limit]

    def _count(self, allowance: Allowance, now: float) -> None:
        times = self._events.get(allowance.key, (deque(), 0.0))[0]
        times.append(now)
        while len(times) > allowance.count:
            times.popleft()
        self._events[allowance.key] = (times, now + allowance.seconds)

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

    # -- fraud guard -------------------------------------------------------------------------
    def hold_range(self, token_id: str, prefix: str, until: float) -> bool:
        with self._lock:
            held, released = self._holds.get((token_id, prefix), (None, None))
            if held is not None:
                return False
            self._holds[(token_id, prefix)] = (until, released)
            return True

    def release_range(
        self, token_id: str, prefix: str, now: float, expired_by: float | None = None
    ) -> bool:
        with self._lock:
            held, _ = self._holds.get((token_id, prefix), (None, None))
            if held is None or (expired_by is not None and held > expired_by):
                return False
            self._holds[(token_id, prefix)] = (None, now)
            return True

    def held_ranges(self, now: float) -> list[tuple[str, str, float]]:
        with self._lock:
            return sorted(
                ((t, p, held) for (t, p), (held, _) in self._holds.items()
                 if held is not None and held > now),
                key=lambda hold: (hold[2], hold[0], hold[1]),
            )

    # -- administrative events -------------------------------------------------------------
    def add_admin_event(self, event: AdminEvent) -> None:
        with self._lock:
            self._admin_events.append(event)

    def admin_events(
        self, since: float | None = None, events: Collection[str] = ()
    ) -> list[AdminEvent]:
        with self._lock:
            found = [e for e in self._admin_events
                     if (since is None or e.at >= since) and (not events or e.event in events)]
        return sorted(found, key=lambda e: e.at)  # stable: ties stay in the order added

    def purge_admin_events(self, before: float) -> int:
        with self._lock:
            kept = [e for e in self._admin_events if e.at >= before]
            removed = len(self._admin_events) - len(kept)
            self._admin_events = kept
            return removed

    # -- housekeeping ----------------------------------------------------------------------
    def purge(self, now: float, retention: float) -> int:
        with self._lock:
            old = [
                r for r in self._codes.values()
                if r.expires_at + retention <= now or (
                    r.sent_at is None and r.state in ("pending", "superseded")
                    and r.expires_at <= now)
            ]
            for record in old:
                self._forget(record)
            for key in [k for k, (_, ends) in self._events.items() if ends <= now]:
                del self._events[key]
            for job_id in [
                i for i, e in self._outbox.items()
                if e.state != "pending" and e.created_at + retention <= now
            ]:
                del self._outbox[job_id]
            return len(old)

    # -- named values ----------------------------------------------------------------------
    def settle_meta(self, name: str, value: str) -> str:
        with self._lock:
            return self._meta.setdefault(name, value)

    def read_meta(self, name: str) -> str | None:
        with self._lock:
            return self._meta.get(name)

    def replace_meta(self, name: str, value: str) -> str | None:
        with self._lock:
            previous = self._meta.get(name)
            self._meta[name] = value
            return previous
