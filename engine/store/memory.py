"""An in-process store for tests and embedding: the same contract, one lock."""

from __future__ import annotations

import threading
from dataclasses import asdict, replace
from typing import Any

from ..access import TokenRecord
from .base import (
    CallbackFactory,
    CallbackJob,
    CodeRecord,
    CodeState,
    DuplicateClientRef,
    DuplicateMessageId,
    DuplicateToken,
    NewCallback,
    NewCode,
    Store,
    retry_after,
    window_start,
)


class MemoryStore(Store):
    """Keeps everything in dictionaries; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}
        self._codes: dict[int, CodeRecord] = {}
        self._by_ref: dict[tuple[str, str], int] = {}
        self._message_ids: set[str] = set()
        # (key, window start) -> (events counted, window end)
        self._windows: dict[tuple[str, int], tuple[int, int]] = {}
        self._next_id = 1
        # callback id -> [job, state, next attempt at, created at]
        self._outbox: dict[int, list[Any]] = {}
        self._next_callback_id = 1

    # -- tokens ------------------------------------------------------------------------
    def add_token(self, record: TokenRecord) -> None:
        with self._lock:
            if record.id in self._tokens or any(
                t.token_hash == record.token_hash for t in self._tokens.values()
            ):
                raise DuplicateToken(record.id)
            self._tokens[record.id] = record

    def put_token(self, record: TokenRecord) -> None:
        with self._lock:
            for other in self._tokens.values():
                if other.id != record.id and other.token_hash == record.token_hash:
                    raise DuplicateToken(record.id)
            self._tokens[record.id] = record

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

    # -- codes -------------------------------------------------------------------------
    def client_ref_taken(self, token_id: str, client_ref: str) -> bool:
        with self._lock:
            return (token_id, client_ref) in self._by_ref

    def insert_code(self, code: NewCode) -> int:
        with self._lock:
            if (code.token_id, code.client_ref) in self._by_ref:
                raise DuplicateClientRef(code.client_ref)
            if code.message_id in self._message_ids:
                raise DuplicateMessageId(code.message_id)
            code_id = self._next_id
            self._next_id += 1
            self._codes[code_id] = CodeRecord(
                id=code_id, state="pending", attempts=0, **asdict(code)
            )
            self._by_ref[(code.token_id, code.client_ref)] = code_id
            self._message_ids.add(code.message_id)
            return code_id

    def activate_code(
        self,
        code_id: int,
        callback: NewCallback | None = None,
        early_report: CallbackFactory | None = None,
    ) -> CodeState:
        with self._lock:
            mine = self._codes[code_id]
            state: CodeState = "live"
            for other in self._codes.values():
                if (
                    other.state == "live"
                    and other.token_id == mine.token_id
                    and other.phone == mine.phone
                ):
                    if other.id < code_id:
                        self._codes[other.id] = replace(other, state="superseded")
                    else:
                        state = "superseded"
            if mine.state == "pending":
                self._codes[code_id] = replace(mine, state=state)
            if callback is not None:
                self._enqueue(callback)
            record = self._codes[code_id]
            if early_report is not None and record.delivery_status is not None:
                new = early_report(record)
                if new is not None:
                    self._enqueue(new)
            return state

    def record_delivery(
        self, message_id: str, status: str, at: float, callback: CallbackFactory
    ) -> bool:
        with self._lock:
            record = next(
                (r for r in self._codes.values() if r.message_id == message_id), None
            )
            if record is None or record.delivery_status == status:
                return False
            record = replace(record, delivery_status=status, delivered_at=at)
            self._codes[record.id] = record
            if record.state == "pending":
                return True  # activate_code queues its callback once the code is sent
            new = callback(record)
            if new is not None:
                self._enqueue(new)
            return True

    def _enqueue(self, new: NewCallback) -> None:
        job = CallbackJob(
            id=self._next_callback_id,
            token_id=new.token_id,
            message_id=new.message_id,
            url=new.url,
            body=new.body,
            attempts=0,
        )
        self._next_callback_id += 1
        self._outbox[job.id] = [job, "pending", new.created_at, new.created_at]

    # -- callback outbox ---------------------------------------------------------------
    def claim_callbacks(self, now: float, limit: int, lease: float) -> list[CallbackJob]:
        with self._lock:
            due = [
                entry
                for entry in self._outbox.values()
                if entry[1] == "pending" and entry[2] <= now
            ][:limit]
            for entry in due:
                entry[2] = now + lease
            return [entry[0] for entry in due]

    def callback_delivered(self, job_id: int) -> None:
        with self._lock:
            self._outbox[job_id][1] = "delivered"

    def callback_failed(self, job_id: int, error: str, retry_at: float | None) -> None:
        with self._lock:
            entry = self._outbox[job_id]
            entry[0] = replace(entry[0], attempts=entry[0].attempts + 1)
            if retry_at is None:
                entry[1] = "failed"
            else:
                entry[2] = retry_at

    def callback_states(self, message_id: str) -> list[tuple[str, int]]:
        with self._lock:
            return [
                (entry[1], entry[0].attempts)
                for _, entry in sorted(self._outbox.items())
                if entry[0].message_id == message_id
            ]

    def discard_code(self, code_id: int) -> None:
        with self._lock:
            record = self._codes.get(code_id)
            if record is not None and record.state == "pending":
                self._forget(record)

    def _forget(self, record: CodeRecord) -> None:
        del self._codes[record.id]
        del self._by_ref[(record.token_id, record.client_ref)]
        self._message_ids.discard(record.message_id)

    def find_code(self, token_id: str, client_ref: str) -> CodeRecord | None:
        with self._lock:
            code_id = self._by_ref.get((token_id, client_ref))
            return None if code_id is None else self._codes[code_id]

    def consume_code(self, code_id: int, now: float, max_attempts: int) -> bool:
        with self._lock:
            record = self._codes.get(code_id)
            if record is None or not record.is_live(now) or record.attempts >= max_attempts:
                return False
            self._codes[code_id] = replace(record, state="used")
            return True

    def count_failure(self, code_id: int, now: float, max_attempts: int) -> bool:
        with self._lock:
            record = self._codes.get(code_id)
            if record is None or not record.is_live(now) or record.attempts >= max_attempts:
                return False
            attempts = record.attempts + 1
            state: CodeState = "locked" if attempts >= max_attempts else "live"
            self._codes[code_id] = replace(record, attempts=attempts, state=state)
            return True

    # -- rate limits -------------------------------------------------------------------
    def take(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        start = window_start(now, seconds)
        with self._lock:
            used, _ = self._windows.get((key, start), (0, 0))
            if used >= limit:
                return retry_after(now, seconds)
            self._windows[(key, start)] = (used + 1, start + seconds)
            return None

    def peek(self, key: str, limit: int, seconds: int, now: float) -> int | None:
        with self._lock:
            used, _ = self._windows.get((key, window_start(now, seconds)), (0, 0))
        return retry_after(now, seconds) if used >= limit else None

    # -- housekeeping ------------------------------------------------------------------
    def purge(self, now: float, retention: float) -> int:
        with self._lock:
            old = [r for r in self._codes.values() if r.expires_at + retention <= now]
            for record in old:
                self._forget(record)
            for slot in [s for s, (_, ends) in self._windows.items() if ends <= now]:
                del self._windows[slot]
            for job_id in [
                i for i, e in self._outbox.items() if e[1] != "pending" and e[3] + retention <= now
            ]:
                del self._outbox[job_id]
            return len(old)
