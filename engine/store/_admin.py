"""Administrative events in the store: who created, rotated, updated or revoked which
token, or released which held range, and when. Append-only: events are added and listed,
and deleted only once past their retention."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class AdminEvent:
    """One administrative change.

    ``at``: when (epoch seconds). ``event``: ``token.created``, ``token.rotated``,
    ``token.updated``, ``token.revoked`` or ``fraud.released``. ``actor``: who made it
    (``cli:<host>:<user>`` for the ``tfa`` command, ``api`` for an embedding app by
    default). ``token_id`` and ``token_name``: the token changed, or whose range was
    released. ``detail``: what else it touched (the fields updated, the range released).
    """

    at: float
    event: str
    actor: str
    token_id: str | None = None
    token_name: str | None = None
    detail: str | None = None


class AdminEventStore(ABC):
    """Administrative events, shared by every process and host on the database."""

    @abstractmethod
    def add_admin_event(self, event: AdminEvent) -> None:
        """Append one event."""

    @abstractmethod
    def admin_events(
        self, since: float | None = None, events: Collection[str] = ()
    ) -> list[AdminEvent]:
        """The events at or after ``since`` (all when None) whose ``event`` is one of
        ``events`` (any when empty), oldest first; events of the same time in the order
        they were added."""

    @abstractmethod
    def purge_admin_events(self, before: float) -> int:
        """Delete the events older than ``before``; return how many went."""
