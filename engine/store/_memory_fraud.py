"""The fraud guard's holds in memory (see :mod:`._memory`): per (token, number range), the
time a hold ends and the time the range was last released."""

from __future__ import annotations

from ._base import FraudStore
from ._memory import MemoryState


class MemoryFraud(MemoryState, FraudStore):
    """:class:`FraudStore` in memory."""

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
