"""Phone numbers: international input to E.164, accepted only when it can take an SMS."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from .store._ranges import phone_range

# Digits only (ASCII: re's \d would accept other scripts), with an optional ``+`` or
# ``00`` international prefix; E.164 numbers have at most 15 digits.
_INTERNATIONAL = re.compile(r"(?:\+|00)?([0-9]{1,15})", re.ASCII)
_SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


@dataclass(frozen=True)
class Phone:
    """A number that can take an SMS, read once: its E.164 form and what the controls
    judge it by."""

    e164: str
    region: str | None  # ISO 3166 region; ``001`` for the codes of no country
    range: str  # the fraud guard's: the country code and the next three digits (phone_range)


def parse_phone(raw: str) -> Phone | None:
    """The number ``raw`` names if it is a valid mobile number, else None.

    Numbers libphonenumber classes as "fixed line or mobile" (e.g. the US and Canada)
    are accepted; fixed-line-only, premium, toll-free and invalid numbers are not.
    """
    match = _INTERNATIONAL.fullmatch(raw)
    if match is None:
        return None
    try:
        number = phonenumbers.parse("+" + match.group(1), None)
    except NumberParseException:
        return None
    # number_type is UNKNOWN for an invalid number, so one call decides both validity
    # and kind; is_valid_number first would resolve the region and match patterns twice.
    if phonenumbers.number_type(number) not in _SMS_TYPES:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164=e164, region=phonenumbers.region_code_for_number(number),
                 range=phone_range(e164))


def to_e164(raw: str) -> str | None:
    """The E.164 form (``+447700900123``) of a valid mobile number, else None (see
    :func:`parse_phone`)."""
    phone = parse_phone(raw)
    return None if phone is None else phone.e164


def mask(e164: str) -> str:
    """A phone number fit for logs: country prefix and last two digits only."""
    if len(e164) <= 6:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 5) + e164[-2:]
