"""The state of the in-memory store (:class:`~tfa_engine.store.memory.MemoryStore`) and
what its concerns (:mod:`._memory_codes`, :mod:`._memory_admission`, ...) share: the
dictionaries that hold tokens, codes, callbacks, counters, holds, named values and
administrative events, the one re-entrant lock every public method takes around its reads
and writes, and the steps more than one concern takes with that lock held (finding the
code that holds a client_ref, forgetting a code, reading and counting a sliding window).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from .._access import TokenRecord
from ._admin import AdminEvent
from ._ranges import phone_range
from ._records import Allowance, CallbackJob, CodeRecord


@dataclass
class _Callback:
    """One outbox entry."""

    job: CallbackJob
    state: str
    due: float
    created_at: float


class MemoryState:
    """The dictionaries a :class:`~tfa_engine.store.memory.MemoryStore` keeps everything in,
    and the steps its concerns share (each called with the lock held)."""

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

    def _holder(self, token_id: str, client_ref: str, stale_before: float) -> CodeRecord | None:
        code_id = self._by_ref.get((token_id, client_ref))
        record = None if code_id is None else self._codes[code_id]
        if (record is not None and record.sent_at is None
                and record.state in ("pending", "superseded")
                and record.created_at <= stale_before):
            return None  # never sent, and its sender died: it holds nothing
        return record

    def _forget(self, record: CodeRecord) -> None:
        del self._codes[record.id]
        del self._by_ref[(record.token_id, record.client_ref)]
        del self._by_message[record.message_id]
        filed = (record.token_id, phone_range(record.phone))
        self._by_range[filed].discard(record.id)
        if not self._by_range[filed]:
            del self._by_range[filed]

    def _stored_before(self, filed: tuple[str, str], at: float) -> bool:
        """True when a code of (token, range) ``filed`` made before ``at`` is stored."""
        return any(self._codes[code_id].created_at < at
                   for code_id in self._by_range.get(filed, ()))

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
