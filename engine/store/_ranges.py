"""The fraud guard's number range of a stored code, read from its E.164 number alone.

A range is the country code and the next three digits (``+447911123456`` → ``+44791``):
the one rule, which a request reads with its phone (:func:`tfa_engine._phones.parse_phone`)
and the store files each code by. Country codes
are prefix-free (no code begins another), so the first digits of a number tell the length
of its code: the store needs no phone metadata to file each code under its range, and a
migration can file the codes already stored with one SQL expression.
"""

from __future__ import annotations

import math

# Every country code of one or two digits (ITU-T E.164); all the others have three. New
# codes are assigned with three digits, so these lists do not grow.
_ONE_DIGIT = ("1", "7")
_TWO_DIGITS = (
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
)
_ONE, _TWO = frozenset(_ONE_DIGIT), frozenset(_TWO_DIGITS)


def phone_range(e164: str) -> str:
    """The range of an E.164 number: ``+``, its country code and three more digits."""
    if e164[1:2] in _ONE:
        return e164[:5]
    return e164[:6] if e164[1:3] in _TWO else e164[:7]


def _quoted(codes: tuple[str, ...]) -> str:
    return ", ".join(f"'{code}'" for code in codes)


# :func:`phone_range` in SQL that SQLite and PostgreSQL both run (built from the constants
# above only), for filing the codes stored before codes kept their range.
RANGE_OF_PHONE = (
    f"CASE WHEN substr(phone, 2, 1) IN ({_quoted(_ONE_DIGIT)}) THEN substr(phone, 1, 5)"
    f" WHEN substr(phone, 2, 2) IN ({_quoted(_TWO_DIGITS)}) THEN substr(phone, 1, 6)"
    " ELSE substr(phone, 1, 7) END"
)


# The fraud guard counts a range's codes by slices of this many seconds (a power of two, so
# that a slice's bounds are exact in binary floating point): a slice wholly within the
# window counts from the database's running totals per (token, range, slice), and only the
# slice the window begins in from the codes themselves (see :mod:`._sql_traffic`).
SLICE = 16


def slice_of(at: float) -> int:
    """The slice that the time ``at`` falls in."""
    return math.floor(at / SLICE)


def slice_from(at: float) -> int:
    """The first slice that begins at or after the time ``at``."""
    return math.ceil(at / SLICE)
