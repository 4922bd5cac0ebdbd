"""Every status the service can answer: code, HTTP status and exact text.

This module is the single source of truth. The entries from -50 to -69 and the two
successes are the Fortytwo 2FA catalogue word for word; -70 and below are this
product's extensions, listed with their texts in the README. Adapters render a
:class:`Status` as they need; nothing else in the code base spells a code or a text.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALLOWLIST_INVALID",
    "BUDGET_EXHAUSTED",
    "BY_NAME",
    "CALLBACK_INVALID",
    "CATALOGUE",
    "CLIENT_REF_EXISTS",
    "CLIENT_REF_MISSING",
    "CODE_NOT_FOUND",
    "CODE_TOO_LONG",
    "CODE_TOO_SHORT",
    "DECLINED",
    "DESTINATION_REFUSED",
    "FRAUD_HELD",
    "INTERNAL_ERROR",
    "INVALID",
    "IP_NOT_ALLOWED",
    "MALFORMED",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "NO_CODE",
    "PHONE_INVALID",
    "PHONE_MISSING",
    "RATE_LIMITED",
    "SENDER_ID_INVALID",
    "SUCCESS",
    "SYSTEM_ERROR",
    "TEMPLATE_NO_PLACEHOLDER",
    "TEMPLATE_TOO_LONG",
    "TOKEN_INVALID",
    "TOKEN_MISSING",
    "TOO_LARGE",
    "UNAVAILABLE",
    "UNSUPPORTED_MEDIA",
    "VALID",
    "Status",
]


@dataclass(frozen=True)
class Status:
    """One outcome of the API: ``status_code``, HTTP status and ``description``."""

    name: str
    code: int
    http: int
    text: str

    @property
    def ok(self) -> bool:
        """True for the two successes (``Success`` and ``Valid``)."""
        return self.code == 0

    def as_result_info(self) -> dict[str, object]:
        """The ``result_info`` object of the wire envelope."""
        return {"status_code": self.code, "description": self.text}


def _s(name: str, code: int, http: int, text: str) -> Status:
    return Status(name, code, http, text)


# The Fortytwo 2FA catalogue, texts verbatim.
SUCCESS = _s("SUCCESS", 0, 201, "Success")
VALID = _s("VALID", 0, 200, "Valid")
TOKEN_INVALID = _s("TOKEN_INVALID", -50, 401, "Your authorization token is invalid.")
TOKEN_MISSING = _s("TOKEN_MISSING", -51, 401, "Authorization token not provided.")
CLIENT_REF_EXISTS = _s(
    "CLIENT_REF_EXISTS",
    -52,
    422,
    "Client ref provided already exists. Please provide a different one.",
)
INVALID = _s("INVALID", -53, 200, "Invalid")
DECLINED = _s("DECLINED", -54, 422, "Declined")
CODE_NOT_FOUND = _s(
    "CODE_NOT_FOUND",
    -55,
    422,
    "The code for the provided client ref. and authorization token, was not found.",
)
NO_CODE = _s("NO_CODE", -56, 422, "No code was provided.")
CODE_TOO_SHORT = _s("CODE_TOO_SHORT", -57, 422, "Code length too short.")
CODE_TOO_LONG = _s("CODE_TOO_LONG", -58, 422, "Code length too long.")
PHONE_INVALID = _s("PHONE_INVALID", -59, 422, "Phone number format is incorrect.")
PHONE_MISSING = _s("PHONE_MISSING", -60, 422, "No phone number provided in request")
CALLBACK_INVALID = _s("CALLBACK_INVALID", -61, 422, "Callback URL is invalid")
CLIENT_REF_MISSING = _s("CLIENT_REF_MISSING", -62, 422, "No client ref provided in request")
SENDER_ID_INVALID = _s(
    "SENDER_ID_INVALID",
    -63,
    422,
    "Sender ID is too long. Maximum numeric is 15 & maximum alphanumeric is 11.",
)
MALFORMED = _s("MALFORMED", -64, 400, "System error \u2013 Request data provided was invalid.")
SYSTEM_ERROR = _s(
    "SYSTEM_ERROR",
    -65,
    400,
    "Something went wrong. Make sure data provided is valid and please try again.",
)
ALLOWLIST_INVALID = _s(
    "ALLOWLIST_INVALID",
    -66,
    400,
    "List of allowed IPs contains one or more invalid IP addresses.",
)
IP_NOT_ALLOWED = _s(
    "IP_NOT_ALLOWED",
    -67,
    400,
    "The request IP is not in your list of allowed IP addresses.",
)
TEMPLATE_NO_PLACEHOLDER = _s(
    "TEMPLATE_NO_PLACEHOLDER", -68, 422, "Message template must contain placeholder {#TFA_CODE}."
)
TEMPLATE_TOO_LONG = _s(
    "TEMPLATE_TOO_LONG", -69, 422, "Message template exceeds the length of one SMS."
)

# Extensions of this service. New ones take the next free code downwards.
RATE_LIMITED = _s("RATE_LIMITED", -70, 429, "Too many requests. Retry later.")
NOT_FOUND = _s("NOT_FOUND", -71, 404, "Endpoint not found.")
METHOD_NOT_ALLOWED = _s("METHOD_NOT_ALLOWED", -72, 405, "Method not allowed.")
TOO_LARGE = _s("TOO_LARGE", -73, 413, "Request entity too large.")
UNSUPPORTED_MEDIA = _s(
    "UNSUPPORTED_MEDIA", -74, 415, "Unsupported media type. Use application/json."
)
UNAVAILABLE = _s("UNAVAILABLE", -78, 503, "Service unavailable. Retry later.")
DESTINATION_REFUSED = _s("DESTINATION_REFUSED", -75, 422, "Destination not allowed.")
BUDGET_EXHAUSTED = _s("BUDGET_EXHAUSTED", -76, 429, "SMS budget exhausted. Retry later.")
FRAUD_HELD = _s("FRAUD_HELD", -77, 429, "Destination temporarily blocked.")
INTERNAL_ERROR = _s("INTERNAL_ERROR", -65, 500, SYSTEM_ERROR.text)

CATALOGUE: tuple[Status, ...] = (
    SUCCESS,
    VALID,
    TOKEN_INVALID,
    TOKEN_MISSING,
    CLIENT_REF_EXISTS,
    INVALID,
    DECLINED,
    CODE_NOT_FOUND,
    NO_CODE,
    CODE_TOO_SHORT,
    CODE_TOO_LONG,
    PHONE_INVALID,
    PHONE_MISSING,
    CALLBACK_INVALID,
    CLIENT_REF_MISSING,
    SENDER_ID_INVALID,
    MALFORMED,
    SYSTEM_ERROR,
    ALLOWLIST_INVALID,
    IP_NOT_ALLOWED,
    TEMPLATE_NO_PLACEHOLDER,
    TEMPLATE_TOO_LONG,
    RATE_LIMITED,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    DESTINATION_REFUSED,
    BUDGET_EXHAUSTED,
    FRAUD_HELD,
    UNAVAILABLE,
    INTERNAL_ERROR,
)

BY_NAME: dict[str, Status] = {status.name: status for status in CATALOGUE}
