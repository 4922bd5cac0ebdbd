"""The parts of the OpenAPI document built from the catalogue: which statuses each
operation answers, and its responses grouped by HTTP status (see :mod:`.openapi`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tfa_engine import catalogue
from tfa_engine.catalogue import Status

_C = catalogue
REQUEST_CODE = (
    _C.SUCCESS, _C.TOKEN_INVALID, _C.TOKEN_MISSING, _C.CLIENT_REF_EXISTS, _C.CODE_TOO_SHORT,
    _C.CODE_TOO_LONG, _C.PHONE_INVALID, _C.PHONE_MISSING, _C.CALLBACK_INVALID,
    _C.CLIENT_REF_MISSING, _C.SENDER_ID_INVALID, _C.MALFORMED, _C.SYSTEM_ERROR,
    _C.ALLOWLIST_INVALID, _C.IP_NOT_ALLOWED, _C.TEMPLATE_NO_PLACEHOLDER,
    _C.TEMPLATE_TOO_LONG, _C.RATE_LIMITED, _C.TOO_LARGE, _C.UNSUPPORTED_MEDIA,
    _C.DESTINATION_REFUSED, _C.BUDGET_EXHAUSTED, _C.FRAUD_HELD, _C.UNAVAILABLE,
    _C.INTERNAL_ERROR,
)
VALIDATE_CODE = (
    _C.VALID, _C.INVALID, _C.DECLINED, _C.CODE_NOT_FOUND, _C.NO_CODE, _C.TOKEN_INVALID,
    _C.TOKEN_MISSING, _C.ALLOWLIST_INVALID, _C.IP_NOT_ALLOWED, _C.RATE_LIMITED,
    _C.MALFORMED, _C.TOO_LARGE, _C.UNAVAILABLE, _C.INTERNAL_ERROR,
)
VALIDATE_WITHOUT_CODE = (
    _C.NO_CODE, _C.TOKEN_INVALID, _C.TOKEN_MISSING, _C.ALLOWLIST_INVALID, _C.IP_NOT_ALLOWED,
    _C.MALFORMED, _C.TOO_LARGE, _C.UNAVAILABLE, _C.INTERNAL_ERROR,
)
DELIVERY_REPORTS = (_C.NOT_FOUND, _C.MALFORMED, _C.TOO_LARGE, _C.UNAVAILABLE, _C.INTERNAL_ERROR)
READY = (_C.UNAVAILABLE, _C.INTERNAL_ERROR)

ENVELOPE = {
    "type": "object",
    "required": ["api_job_id", "result_info"],
    "properties": {
        "api_job_id": {"type": "string", "format": "uuid"},
        "result_info": {"$ref": "#/components/schemas/ResultInfo"},
        "result": {"$ref": "#/components/schemas/Result"},
    },
}


def _envelope_for(statuses: Iterable[Status]) -> dict[str, Any]:
    # Each status as its (code, text) pair, so a code with another status's text fails.
    pairs = sorted({(s.code, s.text) for s in statuses}, reverse=True)
    info = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"status_code": {"const": code}, "description": {"const": text}},
            }
            for code, text in pairs
        ]
    }
    narrowed: dict[str, Any] = {"type": "object", "properties": {"result_info": info}}
    if all(s.http == 201 for s in statuses):
        narrowed["required"] = ["result"]  # a sent code always carries its message_id
    return {"allOf": [{"$ref": "#/components/schemas/Envelope"}, narrowed]}


def responses(statuses: Iterable[Status]) -> dict[str, Any]:
    """An operation's responses: one per HTTP status, admitting exactly its statuses."""
    by_http: dict[int, list[Status]] = {}
    for status in statuses:
        by_http.setdefault(status.http, []).append(status)
    documented: dict[str, Any] = {}
    for http in sorted(by_http):
        group = by_http[http]
        response: dict[str, Any] = {
            "description": "; ".join(f"{s.code} {s.text}" for s in group),
            "content": {"application/json": {"schema": _envelope_for(group)}},
        }
        if http in (429, 503):
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer", "minimum": 1},
                                "description": "Seconds to wait."}
            }
        if http == 405:
            response["headers"] = {"Allow": {"schema": {"type": "string"}}}
        documented[str(http)] = response
    return documented


def path_param(name: str, description: str) -> dict[str, Any]:
    """A required, non-empty string path parameter."""
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}
