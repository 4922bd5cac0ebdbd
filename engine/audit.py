"""The audit trail's vocabulary: the events it records and how it writes values.

Every security event is one record on the ``tfa.audit`` logger, named by one of
:data:`EVENTS`; the administrative ones (:data:`ADMIN_EVENTS`) are also stored in the
database, where ``tfa audit`` and :class:`~tfa_engine.store.AdminEvent` read them back.
Every value of a record passes through :func:`clean` first, so that no input can split a
record or forge another; anything that shows stored event fields does the same.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ADMIN_EVENTS", "EVENTS", "LOGGER", "clean"]

LOGGER = "tfa.audit"
"""The logger every audit record is written to."""

EVENTS = (
    "code.sent", "code.valid", "code.declined", "code.locked", "token.invalid", "ip.refused",
    "rate.limited", "destination.refused", "budget.exhausted", "fraud.held", "fraud.released",
    "callback.refused", "token.created", "token.revoked", "token.rotated", "token.updated",
    "code.replayed", "code.dead", "ref.unknown",
)
"""Every event the audit trail records, one log record each."""

ADMIN_EVENTS = ("token.created", "token.rotated", "token.updated", "token.revoked",
                "fraud.released")
"""The events that are also stored in the database, with who made them
(:class:`~tfa_engine.store.AdminEvent`)."""


def clean(value: Any) -> Any:
    """A field value with every control character escaped (numbers and None as they are)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
