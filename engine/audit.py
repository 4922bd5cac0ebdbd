"""The audit trail: one log record per security event, on the ``tfa.audit`` logger.

Each record carries its fields in ``record.audit`` (a dict: ``event``, ``token_id``,
``client_ip``, ``phone`` masked, ``message_id``, and a few event-specific ones), which a
JSON formatter writes as one object per line; its message is the same as ``key=value``
text. Nothing secret is ever a field: no code, no token, no full phone number, no header.
Values are the service's own (ids, parsed addresses, masked numbers), and any control
character is escaped, so no input can split a record or forge another.
"""

from __future__ import annotations

import logging
from typing import Any

from .phones import mask

log = logging.getLogger("tfa.audit")

EVENTS = (
    "code.sent", "code.valid", "code.declined", "code.locked", "token.invalid", "ip.refused",
    "rate.limited", "destination.refused", "budget.exhausted", "fraud.held", "fraud.released",
    "callback.refused", "token.created", "token.revoked", "token.rotated", "token.updated",
    "code.replayed", "code.dead", "ref.unknown",
)
_WARNINGS = frozenset({
    "code.locked", "token.invalid", "ip.refused", "rate.limited", "destination.refused",
    "budget.exhausted", "fraud.held", "callback.refused", "code.replayed", "code.dead",
    "ref.unknown",
})


def clean(value: Any) -> Any:
    """A field value with every control character escaped (numbers and None as they are)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


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
    """Record one security event of ``kind`` (one of :data:`EVENTS`)."""
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
