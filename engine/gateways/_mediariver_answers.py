"""Reading mediariver's answers: counts, the wait a 429 asks for, and error texts scrubbed
of the message (a gateway echoing a value must not put the code in a log)."""

from __future__ import annotations

import json
import re

from .._phones import mask
from ._base import SmsMessage

MAX_REASON = 300  # characters of gateway-provided error text kept in a reason
REDACTED = "[redacted]"


def count(value: object) -> int:
    """A JSON integer count, or 0 for anything else (booleans included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def retry_after_seconds(header: str | None) -> float | None:
    """``RateLimit-Retry-After`` is in milliseconds; None when absent or unreadable."""
    if header is None:
        return None
    try:
        millis = float(header.strip())
    except ValueError:
        return None
    if millis != millis or millis in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(millis, 0.0) / 1000.0


def error_summary(data: bytes, message: SmsMessage) -> str:
    """``: location: message; ...`` from a mediariver error body, scrubbed of the SMS."""
    try:
        answer = json.loads(data)
    except ValueError:
        return ""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not isinstance(errors, list):
        return ""
    items: list[str] = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        location, text = error.get("location"), error.get("message")
        parts = [str(part) for part in (location, text) if isinstance(part, (str, int))]
        if parts:
            items.append(": ".join(parts))
    summary = scrub("; ".join(items), message)
    if len(summary) > MAX_REASON:
        summary = summary[: MAX_REASON - 3] + "..."
    return f": {summary}" if summary else ""


def scrub(reason: str, message: SmsMessage) -> str:
    """Remove the SMS text, every word of it that could be the code, and the number.

    mediariver's messages are fixed phrases, but whatever a gateway says ends up in logs,
    and the text holds the code: a gateway echoing a value must not leak it.
    """
    text = message.text
    if text:
        reason = reason.replace(text, REDACTED)
    # Codes are at least 4 ASCII letters or digits; take every such run, and its digit and
    # letter runs on their own, in case the template glues the code to other characters.
    # Innocent words of the template may go too: a less readable reason is the cheap side.
    words = {
        word
        for pattern in (r"[A-Za-z0-9]{4,}", r"[0-9]{4,}", r"[A-Za-z]{4,}")
        for word in re.findall(pattern, text)
    }
    for word in sorted(words, key=len, reverse=True):
        reason = reason.replace(word, REDACTED)
    recipient = message.recipient
    for spelling in (recipient, recipient.lstrip("+")):
        if spelling:
            reason = reason.replace(spelling, mask(recipient))
    return reason
