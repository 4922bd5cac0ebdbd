"""Codes and their callbacks in memory (see :mod:`._memory`): whether a client_ref is
taken, a code's activation, delivery reports and the callbacks they queue, and the outbox
a dispatcher claims callbacks from and settles them in."""

from __future__ import annotations

import uuid
from dataclasses import replace

from ._base import CodeStore, OutboxStore, StoreError
from ._memory import MemoryState, _Callback
from ._records import NEVER, Activation, CallbackJob, CodeRecord, CodeState, Recorded


class MemoryCodes(MemoryState, CodeStore, OutboxStore):
    """:class:`CodeStore` and :class:`OutboxStore` in memory."""

    # -- codes -----------------------------------------------------------------------------
    def client_ref_taken(
        self, token_id: str, client_ref: str, stale_before: float = NEVER
    ) -> bool:
        with self._lock:
            return self._holder(token_id, client_ref, stale_before) is not None

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

    def find_code(self, token_id: str, client_ref: str) -> CodeRecord | None:
        with self._lock:
            code_id = self._by_ref.get((token_id, client_ref))
            return None if code_id is None else self._codes[code_id]

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
