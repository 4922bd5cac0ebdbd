"""Administrative events in memory (see :mod:`._memory`): a list in the order the events
were added, read back by time, and cut past retention."""

from __future__ import annotations

from collections.abc import Collection

from ._admin import AdminEvent, AdminEventStore
from ._memory import MemoryState


class MemoryAdminEvents(MemoryState, AdminEventStore):
    """:class:`AdminEventStore` in memory."""

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
