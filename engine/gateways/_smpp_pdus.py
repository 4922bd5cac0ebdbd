"""What an SMS is in SMPP 3.4's fields: the text as ``data_coding`` and octets, the sender
and recipient as addresses, the command statuses by name, and the delivery receipts that
``deliver_sm`` carries.

Loaded by :mod:`tfa_engine.gateways.smpp` only, so smpplib is needed only where an smpp
gateway is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from smpplib import consts

from .._segments import gsm7_septets, is_gsm7

GSM7, UCS2 = 0x00, 0x08  # data_coding: the SMSC's default alphabet (GSM 03.38), UCS-2
TON_UNKNOWN, TON_INTERNATIONAL, TON_ALPHANUMERIC = 0, 1, 5
NPI_UNKNOWN, NPI_ISDN = 0, 1
_RECEIPT = 0x04  # esm_class message type (bits 2-5) of an SMSC delivery receipt
_MESSAGE_TYPE = 0x3C

# Statuses a submit_sm may get again a moment later with another answer.
RETRIABLE = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
# Statuses of a bind that say the credentials are wrong.
_CREDENTIALS = frozenset({consts.SMPP_ESME_RINVPASWD, consts.SMPP_ESME_RINVSYSID})
_STATUS_NAMES: dict[int, str] = {
    value: name.removeprefix("SMPP_")
    for name, value in sorted(vars(consts).items())
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}

# message_state (the TLV) and stat: (the text) of the final states, as DELIVERY_STATUSES
# name them; an intermediate state (ENROUTE, ACCEPTD...) is no report of ours.
_STATES = {2: "DELIVRD", 3: "EXPIRED", 4: "UNKNOWN", 5: "UNDELIV", 7: "UNKNOWN", 8: "REJECTD"}
_STATS = {"DELIVRD": "DELIVRD", "EXPIRED": "EXPIRED", "DELETED": "UNKNOWN",
          "UNDELIV": "UNDELIV", "UNKNOWN": "UNKNOWN", "REJECTD": "REJECTD"}
_TEXT_ID = re.compile(rb"\bid:(\S+)", re.IGNORECASE)
_TEXT_STAT = re.compile(rb"\bstat:(\w+)", re.IGNORECASE)


def encode_text(text: str) -> tuple[int, bytes]:
    """``(data_coding, short_message)`` for ``text``: GSM 03.38 as unpacked septets when
    every character is in that alphabet (so the octets are the units the segment counter
    counts), else UTF-16 big-endian (UCS-2, astral characters as surrogate pairs)."""
    if is_gsm7(text):
        return GSM7, gsm7_septets(text)
    return UCS2, text.encode("utf-16-be")


def source_address(sender: str) -> tuple[int, int, str]:
    """``(ton, npi, address)`` of a sender: a number as international ISDN without its
    ``+``, anything else alphanumeric; none (the SMSC's default) for an empty sender."""
    if not sender:
        return TON_UNKNOWN, NPI_UNKNOWN, ""
    digits = sender.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        return TON_INTERNATIONAL, NPI_ISDN, digits
    return TON_ALPHANUMERIC, NPI_UNKNOWN, sender


def destination_address(recipient: str) -> str:
    """An E.164 recipient as SMPP carries it with TON 1 / NPI 1: the digits without ``+``."""
    return recipient.removeprefix("+")


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED`` and the like, or the number in hex when it has no name."""
    return _STATUS_NAMES.get(status, f"0x{status:08X}")


def bind_refusal(status: int) -> str:
    """A bind's refusal in a few words: its status name and what it means."""
    if status in _CREDENTIALS:
        meaning = "wrong system_id or password"
    else:
        meaning = str(consts.DESCRIPTIONS.get(status, "unknown status")).rstrip(".")
    return f"{status_name(status)} ({meaning})"


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: the SMSC's id of the message and its final state (one of
    :data:`~tfa_engine.gateways.DELIVERY_STATUSES`)."""

    provider_id: str
    status: str


def parse_receipt(pdu: Any) -> Receipt | None:
    """The receipt a ``deliver_sm`` carries, preferring the ``receipted_message_id`` and
    ``message_state`` TLVs to the ``id:`` and ``stat:`` of the text; None when it is not a
    receipt (a message from a phone), names no message, or tells an intermediate state."""
    tlv_id = _text(getattr(pdu, "receipted_message_id", None))
    if (int(pdu.esm_class or 0) & _MESSAGE_TYPE) != _RECEIPT and not tlv_id:
        return None
    body = pdu.short_message if isinstance(pdu.short_message, bytes) else b""
    text_id = _TEXT_ID.search(body)
    provider_id = tlv_id or (_text(text_id[1]) if text_id else "")
    state = getattr(pdu, "message_state", None)
    if isinstance(state, int):
        status = _STATES.get(state)
    else:
        stat = _TEXT_STAT.search(body)
        status = _STATS.get(_text(stat[1]).upper()) if stat else None
    if not provider_id or status is None:
        return None
    return Receipt(provider_id, status)


def message_id(pdu: Any) -> str | None:
    """The SMSC's id of the message a ``submit_sm_resp`` answers (None when it gave none)."""
    return _text(getattr(pdu, "message_id", None)) or None


def _text(value: Any) -> str:
    """A C-octet string field as text (smpplib leaves what it parsed as bytes)."""
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode("ascii", "replace")
    return value if isinstance(value, str) else ""
