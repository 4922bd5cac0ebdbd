"""An in-process store for tests and embedding: the same contract under one lock.

Nothing survives the process, and nothing is shared with another one: use it where a
single process owns the state (tests, a demo, a short-lived tool).

:class:`MemoryStore` carries tokens and housekeeping itself; its other concerns are
mixins over one state (:mod:`._memory`), one module each, as the SQL store's are:
validations, codes and callbacks, admissions and rate limits, the fraud guard's holds,
named values and administrative events (``_memory_*.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from .._access import TokenRecord
from ._base import DuplicateToken, DuplicateTokenName, Store
from ._memory import _Callback as _Callback  # importable from here too
from ._memory_admin import MemoryAdminEvents
from ._memory_admission import _OPTIONAL as _OPTIONAL  # importable from here too
from ._memory_admission import MemoryAdmission
from ._memory_codes import MemoryCodes
from ._memory_fraud import MemoryFraud
from ._memory_meta import MemoryMeta
from ._memory_validation import MemoryValidation

__all__ = ["MemoryStore"]


class MemoryStore(
    MemoryValidation, MemoryCodes, MemoryAdmission, MemoryFraud, MemoryMeta, MemoryAdminEvents,
    Store,
):
    """Keeps everything in dictionaries; thread-safe, single-process."""

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
            for held in [key for key, (until, released) in self._holds.items()
                         if until is None and released is not None
                         and released <= now - retention
                         and not self._stored_before(key, released)]:
                del self._holds[held]
            for key in [k for k, (_, ends) in self._events.items() if ends <= now]:
                del self._events[key]
            for job_id in [
                i for i, e in self._outbox.items()
                if e.state != "pending" and e.created_at + retention <= now
            ]:
                del self._outbox[job_id]
            return len(old)
