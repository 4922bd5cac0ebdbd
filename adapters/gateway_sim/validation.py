"""What mediariver refuses in a ``POST /v2/send`` body, in its own words.

Messages follow mediariver's (JSON-schema validator) wording, each with a JSON-pointer
``location``; a missing property is reported at its parent, as that validator does.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from tfa_engine.gateways import QUALITIES

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

MAX_MESSAGE_LENGTH = 640
MAX_ALPHANUMERIC_SENDER = 11
MAX_NUMERIC_SENDER = 16
MAX_BODY = 1 << 20

_E164 = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
_NUMERIC_SENDER = re.compile(r"\+?([0-9]+)", re.ASCII)
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]+", re.ASCII)

Error = dict[str, str]


def error(location: str, message: str) -> Error:
    """One entry of an ``errors`` array."""
    return {"location": location, "message": message}


def validate(payload: object) -> list[Error]:
    """Every reason mediariver would reject ``payload``, with JSON-pointer locations."""
    if not isinstance(payload, dict):
        return [error("", "should be object")]
    if "messages" not in payload:
        return [error("", "should have required property 'messages'")]
    messages = payload["messages"]
    if not isinstance(messages, list):
        return [error("/messages", "should be array")]
    if not messages:
        return [error("/messages", "should NOT have fewer than 1 items")]
    errors: list[Error] = []
    for index, item in enumerate(messages):
        errors.extend(_validate_message(f"/messages/{index}", item))
    return errors


def _validate_message(at: str, item: object) -> list[Error]:
    if not isinstance(item, dict):
        return [error(at, "should be object")]
    errors = [
        error(at, f"should have required property '{name}'")
        for name in ("recipients", "quality", "message")
        if name not in item
    ]
    if "recipients" in item:
        errors.extend(_validate_recipients(f"{at}/recipients", item["recipients"]))
    quality = item.get("quality")
    if "quality" in item and quality not in QUALITIES:
        errors.append(error(f"{at}/quality", "should be equal to one of the allowed values"))
    if "message" in item:
        errors.extend(_validate_text(f"{at}/message", item["message"]))
    if "sender" in item:
        errors.extend(_validate_sender(f"{at}/sender", item["sender"]))
        if quality in QUALITIES and quality != "H":
            errors.append(error(f"{at}/sender", "is allowed only with quality H"))
    if "uuid" in item and not isinstance(item["uuid"], str):
        errors.append(error(f"{at}/uuid", "should be string"))
    return errors


def _validate_recipients(at: str, recipients: object) -> list[Error]:
    if not isinstance(recipients, list):
        return [error(at, "should be array")]
    if not recipients:
        return [error(at, "should NOT have fewer than 1 items")]
    errors: list[Error] = []
    for index, recipient in enumerate(recipients):
        if not isinstance(recipient, str):
            errors.append(error(f"{at}/{index}", "should be string"))
        elif not _E164.fullmatch(recipient):
            errors.append(error(f"{at}/{index}", 'should match format "e164"'))
    return errors


def _validate_text(at: str, text: object) -> list[Error]:
    if not isinstance(text, str):
        return [error(at, "should be string")]
    if not text:
        return [error(at, "should NOT be shorter than 1 characters")]
    if len(text) > MAX_MESSAGE_LENGTH:
        return [error(at, f"should NOT be longer than {MAX_MESSAGE_LENGTH} characters")]
    return []


def _validate_sender(at: str, sender: object) -> list[Error]:
    if not isinstance(sender, str):
        return [error(at, "should be string")]
    if not sender:
        return [error(at, "should NOT be shorter than 1 characters")]
    numeric = _NUMERIC_SENDER.fullmatch(sender)
    if numeric:
        if len(numeric.group(1)) > MAX_NUMERIC_SENDER:
            return [error(at, f"should NOT be longer than {MAX_NUMERIC_SENDER} characters")]
        return []
    if not _ALPHANUMERIC_SENDER.fullmatch(sender):
        return [error(at, 'should match pattern "^[A-Za-z0-9 ]+$"')]
    if len(sender) > MAX_ALPHANUMERIC_SENDER:
        return [error(at, f"should NOT be longer than {MAX_ALPHANUMERIC_SENDER} characters")]
    return []


def read_json(environ: WSGIEnvironment) -> tuple[object, list[Error]]:
    """The decoded JSON body, or errors saying why there is none."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return None, [error("", f"should NOT be larger than {MAX_BODY} bytes")]
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return json.loads(raw), []
    except ValueError:  # UnicodeDecodeError included
        return None, [error("", "should be valid JSON")]
