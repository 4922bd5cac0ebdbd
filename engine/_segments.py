"""SMS segment counting for GSM 03.38 (7-bit) and UCS-2 messages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet, in code-point order 0x00-0x7F. ESC (0x1B) is omitted:
# it is the escape prefix for the extension table, not a character a user can send.
# The Greek capitals are the real Greek letters (U+0394 ...), not lookalike symbols.
_GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039eÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + char, so it costs two septets.
_GSM_EXTENSION_TABLE = "\f^{}\\[~]|€"

# The septet each extension character follows ESC with (3GPP TS 23.038, 6.2.1.1), in the
# order of _GSM_EXTENSION_TABLE.
_GSM_EXTENSION_SEPTETS = b"\x0a\x14\x28\x29\x2f\x3c\x3d\x3e\x40\x65"
_GSM_ESCAPE = 0x1B

_GSM_BASIC = frozenset(_GSM_BASIC_TABLE)
_GSM_EXTENSION = frozenset(_GSM_EXTENSION_TABLE)
_GSM_ALL = _GSM_BASIC | _GSM_EXTENSION

# Concatenated parts are smaller because the User Data Header eats 6 octets.
_GSM_SINGLE, _GSM_MULTI = 160, 153
_UCS2_SINGLE, _UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    """Result of counting: encoding, total units and number of SMS parts."""

    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    parts: int  # number of SMS segments (1 for an empty message)


def _pack(widths: Iterable[int], total: int, single: int, multi: int) -> int:
    """Count parts, never splitting a multi-unit character across a boundary."""
    if total <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > multi:
            parts += 1
            used = 0
        used += width
    return parts


def _utf16_units(text: str) -> int:
    """Number of UTF-16 code units; astral characters need a surrogate pair."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def is_gsm7(text: str) -> bool:
    """Return True if every character is in the GSM 03.38 basic or extension table."""
    return _GSM_ALL.issuperset(text)


# A character's septet: its place in the basic table, past the ESC the table leaves out.
_GSM_SEPTET = {ch: i + (i >= _GSM_ESCAPE) for i, ch in enumerate(_GSM_BASIC_TABLE)}
_GSM_ESCAPED = dict(zip(_GSM_EXTENSION_TABLE, _GSM_EXTENSION_SEPTETS, strict=True))


def gsm7_septets(text: str) -> bytes:
    """``text`` in the GSM 03.38 default alphabet, one septet value per byte (unpacked, as
    SMPP's ``data_coding`` 0 carries it), each extension character as ESC and its septet;
    as many bytes as :func:`segments` counts units. Raises ValueError for a character
    outside the alphabet (see :func:`is_gsm7`)."""
    out = bytearray()
    for ch in text:
        septet = _GSM_SEPTET.get(ch)
        if septet is not None:
            out.append(septet)
        elif ch in _GSM_ESCAPED:
            out += bytes((_GSM_ESCAPE, _GSM_ESCAPED[ch]))
        else:
            raise ValueError(f"U+{ord(ch):04X} is not in the GSM 03.38 alphabet")
    return bytes(out)


def segments(text: str) -> SegmentCount:
    """Count the encoding, units and SMS parts needed to send ``text``."""
    chars = set(text)
    if chars <= _GSM_BASIC:
        # All one-septet chars: no boundary can be forced early, so plain division works.
        n = len(text)
        parts = 1 if n <= _GSM_SINGLE else -(-n // _GSM_MULTI)
        return SegmentCount("GSM-7", n, parts)
    if chars <= _GSM_ALL:
        widths = [2 if ch in _GSM_EXTENSION else 1 for ch in text]
        total = sum(widths)
        return SegmentCount("GSM-7", total, _pack(widths, total, _GSM_SINGLE, _GSM_MULTI))
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    total = sum(widths)
    return SegmentCount("UCS-2", total, _pack(widths, total, _UCS2_SINGLE, _UCS2_MULTI))


def fits_one_segment(text: str) -> bool:
    """Return True if ``text`` is sent as a single SMS segment."""
    n = len(text)
    # Every char costs at least one unit and 160 is the largest capacity, so
    # long messages are rejected without scanning them.
    if n > _GSM_SINGLE:
        return False
    chars = set(text)
    if chars <= _GSM_BASIC:
        return True
    if chars <= _GSM_ALL:
        return n + sum(1 for ch in text if ch in _GSM_EXTENSION) <= _GSM_SINGLE
    return n <= _UCS2_SINGLE and _utf16_units(text) <= _UCS2_SINGLE
