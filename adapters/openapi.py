"""The OpenAPI 3.1 description of the HTTP API, built from the catalogue.

Each response lists exactly the ``status_code`` values the engine can answer with that
HTTP status on that operation, so a schema check catches an outcome on the wrong status.
``docs/openapi.json`` is this document written out (``python -m tfa_engine.adapters.openapi``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from tfa_engine import catalogue
from tfa_engine.catalogue import Status

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"

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

_ENVELOPE = {
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


def _responses(statuses: Iterable[Status]) -> dict[str, Any]:
    by_http: dict[int, list[Status]] = {}
    for status in statuses:
        by_http.setdefault(status.http, []).append(status)
    responses: dict[str, Any] = {}
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
        responses[str(http)] = response
    return responses


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the service."""
    security: list[dict[str, list[str]]] = [{"token": []}]
    code_request: dict[str, Any] = {
        "type": "object",
        "properties": {
            "client_ref": {"type": ["string", "null"], "maxLength": 64,
                           "description": "Required; unique per token."},
            "phone_number": {
                "type": ["string", "null"],
                "description": "Required; international, digits with optional + or 00.",
            },
            "code_length": {"type": ["integer", "null"], "description": "Default 6, at most 20."},
            "code_type": {"type": ["string", "null"],
                          "description": "numeric (default), alpha or alphanumeric."},
            "case_sensitive": {"type": ["boolean", "null"]},
            "callback_url": {"type": ["string", "null"], "description": "Absolute http(s) URL."},
            "sender_id": {"type": ["string", "null"]},
            "message_template": {"type": ["string", "null"],
                                 "description": "Must contain {#TFA_CODE}."},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tfa-engine",
            "version": "1",
            "description": "SMS one-time codes, wire-compatible with the Fortytwo 2FA REST API.",
        },
        "components": {
            # Any path may answer these: an unknown path, or a method a path does not serve.
            "responses": {
                "NotFound": _responses((_C.NOT_FOUND,))["404"],
                "MethodNotAllowed": _responses((_C.METHOD_NOT_ALLOWED,))["405"],
            },
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`Token <token>`"},
            },
            "schemas": {
                "ResultInfo": {
                    "type": "object",
                    "required": ["status_code", "description"],
                    "properties": {"status_code": {"type": "integer"},
                                   "description": {"type": "string"}},
                },
                "Result": {
                    "type": "object",
                    "required": ["message_id"],
                    "properties": {"message_id": {"type": "string", "pattern": "^[0-9]+$"}},
                },
                "Envelope": _ENVELOPE,
                "CodeRequest": code_request,
                "DeliveryReport": {
                    "type": "object",
                    "required": ["uuid", "delivery_status"],
                    "properties": {
                        "msisdn": {"type": "string"},
                        "delivery_status": {"type": "string"},
                        "delivery_date": {"type": "string"},
                        "uuid": {"type": "string", "description": "Our message_id."},
                    },
                },
            },
        },
        "paths": {
            "/1/2fa": {
                "post": {
                    "operationId": "requestCode",
                    "summary": "Send a one-time code by SMS.",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/CodeRequest"}}},
                    },
                    "responses": _responses(REQUEST_CODE),
                }
            },
            "/1/2fa/{client_ref}/{code}": {
                "post": {
                    "operationId": "validateCode",
                    "summary": "Check a code; any body is ignored.",
                    "security": security,
                    "parameters": [_path_param("client_ref", "The request's client_ref."),
                                   _path_param("code", "The code the user typed.")],
                    "responses": _responses(VALIDATE_CODE),
                }
            },
            "/1/2fa/{client_ref}": {
                "post": {
                    "operationId": "validateWithoutCode",
                    "summary": "A validation without a code: always -56 once authorised.",
                    "security": security,
                    "parameters": [_path_param("client_ref", "The request's client_ref.")],
                    "responses": _responses(VALIDATE_WITHOUT_CODE),
                }
            },
            "/1/dlr/{secret}": {
                "post": {
                    "operationId": "deliveryReports",
                    "summary": "Delivery reports from the mediariver gateway.",
                    "parameters": [_path_param("secret", "The configured TFA_DLR_SECRET.")],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"oneOf": [
                            {"$ref": "#/components/schemas/DeliveryReport"},
                            {"type": "array", "minItems": 1,
                             "items": {"$ref": "#/components/schemas/DeliveryReport"}},
                        ]}}}},
                    "responses": {
                        "200": {"description": "Reports recorded.", "content": {
                            "application/json": {"schema": {
                                "type": "object", "required": ["accepted"],
                                "properties": {"accepted": {"type": "integer",
                                                            "minimum": 0}}}}}},
                        **_responses(DELIVERY_REPORTS),
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness; needs no token.",
                    "responses": {"200": {
                        "description": "The service is up.",
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["status"],
                            "properties": {"status": {"const": "ok"}}}}},
                    }},
                }
            },
            "/health/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: the database takes writes now; needs no token.",
                    "responses": {"200": {
                        "description": "Ready to serve requests.",
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["status"],
                            "properties": {"status": {"const": "ready"}}}}},
                    }, **_responses(READY)},
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {"200": {"description": "OpenAPI 3.1 JSON.",
                                          "content": {"application/json": {}}}},
                }
            },
        },
    }


@cache
def render_openapi() -> str:
    """The document as the JSON text kept in ``docs/openapi.json`` (built once: it
    depends on the catalogue only)."""
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DOC_PATH.parent.mkdir(exist_ok=True)
    DOC_PATH.write_text(render_openapi(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")
