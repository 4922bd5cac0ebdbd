"""The request-code body: its JSON, its field types (cerberus) and its rules, each
mapped to its catalogue status in the documented check order (auth, IP, media type,
body, then each field in turn)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cerberus import TypeDefinition, Validator

from . import _netguard as netguard
from . import _phones as phones
from . import catalogue
from ._codes import CodeType, code_type_of
from ._segments import fits_one_segment
from .catalogue import Status
from .config import MAX_CODE_LENGTH, PLACEHOLDER, EngineConfig, valid_sender_id

MAX_CLIENT_REF = 64


class _FieldTypes(Validator):  # type: ignore[misc]
    # JSON true is a Python int; code_length must be a JSON integer, not a boolean.
    types_mapping = Validator.types_mapping.copy()
    types_mapping["json_integer"] = TypeDefinition("json_integer", (int,), (bool,))


# Types only: every other rule has its own catalogue status and is checked below, in the
# contract's order. null counts as absent (SDKs send unset fields as null); unknown
# fields are ignored, as the Fortytwo API does. Validation runs without normalisation,
# which costs a sixth as much.
SCHEMA: dict[str, dict[str, Any]] = {
    "client_ref": {"type": "string", "nullable": True, "maxlength": MAX_CLIENT_REF},
    "phone_number": {"type": "string", "nullable": True},
    "code_length": {"type": "json_integer", "nullable": True},
    "code_type": {"type": "string", "nullable": True},
    "case_sensitive": {"type": "boolean", "nullable": True},
    "callback_url": {"type": "string", "nullable": True},
    "sender_id": {"type": "string", "nullable": True},
    "message_template": {"type": "string", "nullable": True},
}

# A cerberus Validator keeps the document it checks on itself: one per thread.
_validators = threading.local()


@dataclass(frozen=True)
class CodeRequest:
    """A request-code body that passed every rule."""

    client_ref: str
    phone: str  # E.164
    code_length: int
    code_type: CodeType
    case_sensitive: bool
    callback_url: str | None
    sender_id: str | None
    template: str
    # What the controls judge the phone by, read with it (a number is parsed once).
    region: str | None
    number_range: str


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key is read as its first value by some parsers (a WAF, a log pipeline)
    # and as its last by others (json.loads): two readers, two requests. Refuse it.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return obj


def decode_json(body: bytes | bytearray | str) -> Any:
    """The JSON value of a body; ValueError when it is not strict JSON (NaN included) or
    an object, at any depth, repeats a key."""
    try:
        return json.loads(body, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError("body is not JSON") from exc


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` with any parameters (``; charset=utf-8``), any case."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def _types_ok(data: Mapping[str, Any]) -> bool:
    validator = getattr(_validators, "validator", None)
    if validator is None:
        validator = _validators.validator = _FieldTypes(SCHEMA, allow_unknown=True)
    return bool(validator.validate(data, normalize=False))


def is_text(value: str) -> bool:
    """True unless the string holds lone surrogates (JSON allows ``"\\ud800"``), which no
    store, gateway or SMS can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_code_request(
    data: Any, config: EngineConfig, resolver: netguard.Resolver | None = None
) -> CodeRequest | Status:
    """Check a decoded body; the first failing rule's status, or the accepted request.

    ``resolver`` looks up a callback host's addresses (None: literal addresses only).
    """
    if not isinstance(data, Mapping) or not _types_ok(data):
        return catalogue.MALFORMED
    if not all(is_text(data[key]) for key in SCHEMA if isinstance(data.get(key), str)):
        return catalogue.MALFORMED
    client_ref = data.get("client_ref")
    if not client_ref:
        return catalogue.CLIENT_REF_MISSING
    raw_phone = data.get("phone_number")
    if not raw_phone:
        return catalogue.PHONE_MISSING
    phone = phones.parse_phone(raw_phone)
    if phone is None:
        return catalogue.PHONE_INVALID
    code_length = data.get("code_length")
    if code_length is None:
        code_length = config.default_code_length
    if code_length < config.min_code_length:
        return catalogue.CODE_TOO_SHORT
    if code_length > MAX_CODE_LENGTH:
        return catalogue.CODE_TOO_LONG
    callback_url = data.get("callback_url")
    if callback_url is not None and not netguard.check_callback_url(
        callback_url, allow_private=config.callback_allow_private, resolver=resolver
    ):
        return catalogue.CALLBACK_INVALID
    sender_id = data.get("sender_id")
    if sender_id is not None and not valid_sender_id(sender_id):
        return catalogue.SENDER_ID_INVALID
    template = data.get("message_template")
    if template is None:
        template = config.default_template
    if PLACEHOLDER not in template:
        return catalogue.TEMPLATE_NO_PLACEHOLDER
    # Codes are ASCII letters and digits: one GSM-7 septet each, whatever the code, so
    # a code of the asked length stands in for the real one.
    if not fits_one_segment(render(template, "0" * code_length)):
        return catalogue.TEMPLATE_TOO_LONG
    return CodeRequest(
        client_ref=client_ref,
        phone=phone.e164,
        code_length=code_length,
        code_type=code_type_of(data.get("code_type")),
        case_sensitive=bool(data.get("case_sensitive")),
        callback_url=callback_url,
        sender_id=sender_id,
        template=template,
        region=phone.region,
        number_range=phone.range,
    )


def render(template: str, code: str) -> str:
    """The SMS text: every placeholder replaced by the code."""
    return template.replace(PLACEHOLDER, code)
