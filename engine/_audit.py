"""The audit trail's machinery: :func:`event` writes one log record per security event on
the ``tfa.audit`` logger, :class:`AdminTrail` also stores the administrative ones.

Each record carries its fields in ``record.audit`` (a dict: ``event``, ``token_id``,
``client_ip``, ``phone`` masked, ``message_id``, and a few event-specific ones), which a
JSON formatter writes as one object per line; its message is the same as ``key=value``
text. Nothing secret is ever a field: no code, no token, no full phone number, no header.
Values are the service's own (ids, parsed addresses, masked numbers), and any control
character is escaped (:func:`~tfa_engine.audit.clean`), so no input can split a record or
forge another. The events' names are in :mod:`tfa_engine.audit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from ._phones import mask
from .audit import LOGGER, clean
from .store import AdminEvent, Store, StoreError

log = logging.getLogger(LOGGER)

_WARNINGS = frozenset({
    "code.locked", "token.invalid", "ip.refused", "rate.limited", "destination.refused",
    "budget.exhausted", "fraud.held", "callback.refused", "code.replayed", "code.dead",
    "ref.unknown",
})


def event(
    kind: str,
    /,
    *,
    token_id: str | None = None,
    client_ip: str | None = None,
    phone: str | None = None,
    message_id: str | None = None,
    **details: Any,
) -> None:
    """Record one security event of ``kind`` (one of :data:`~tfa_engine.audit.EVENTS`)."""
    if not log.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "event": kind,
        "token_id": clean(token_id),
        "client_ip": clean(client_ip),
        "phone": None if phone is None else mask(phone),
        "message_id": clean(message_id),
    }
    fields.update({key: clean(value) for key, value in details.items()})
    text = " ".join(
        f"{key}={value}" for key, value in fields.items() if value is not None and key != "event"
    )
    level = logging.WARNING if kind in _WARNINGS else logging.INFO
    log.log(level, "%s %s", kind, text, extra={"audit": fields})


class AdminTrail:
    """Administrative events: each is an audit record, as every event is, and is stored
    (:class:`~tfa_engine.store.AdminEvent`) so that every node's and every command's
    changes can be listed in one place (``tfa audit``).

    ``actor`` names who makes the changes: ``cli:<host>:<user>`` for the ``tfa`` command,
    ``api`` by default (see :class:`~tfa_engine.Engine`'s ``actor``).
    """

    def __init__(self, store: Store, clock: Callable[[], float], actor: str) -> None:
        if not isinstance(actor, str) or not actor.strip():
            raise ValueError("an actor must be a non-blank string")
        self.store = store
        self.clock = clock
        self.actor = actor.strip()

    def record(self, kind: str, *, token_id: str, name: str | None = None,
               detail: str | None = None, **fields: Any) -> None:
        """Log and store one event of ``kind`` (one of
        :data:`~tfa_engine.audit.ADMIN_EVENTS`), right after the change it tells of.
        ``name`` is looked up when not given; ``fields`` go to the log record only."""
        # The change is made: a store failing now must not fail the command, which would
        # hide what it did (a token created but never shown). The log keeps the event.
        try:
            if name is None:
                name = next((t.name for t in self.store.list_tokens() if t.id == token_id),
                            None)
        except StoreError:
            pass  # the event is recorded without the name
        event(kind, token_id=token_id, name=name, actor=self.actor, **fields)
        stored = AdminEvent(at=self.clock(), event=kind, actor=self.actor, token_id=token_id,
                            token_name=name, detail=detail)
        try:
            self.store.add_admin_event(stored)
        except StoreError as exc:
            log.error("%s of token %s is not in the stored audit trail: %s",
                      kind, clean(token_id), exc)

    def events(self, since: float | None = None, kinds: Collection[str] = ()) -> list[AdminEvent]:
        """The stored events at or after ``since`` of ``kinds`` (any when empty), oldest
        first."""
        return self.store.admin_events(since, kinds)
