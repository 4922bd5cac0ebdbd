"""The OpenAPI 3.1 description of the HTTP API, built from the catalogue.

Each response lists exactly the ``status_code`` values the engine can answer with that
HTTP status on that operation, so a schema check catches an outcome on the wrong status.
``docs/openapi.json`` is this document written out
(``python -m tfa_engine.adapters.falcon.openapi``).
"""

from __future__ import annotations

import json
import sys
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from tfa_engine import catalogue

from .openapi_responses import (
    DELIVERY_REPORTS,
    ENVELOPE,
    READY,
    REQUEST_CODE,
    VALIDATE_CODE,
    VALIDATE_WITHOUT_CODE,
    path_param,
    responses,
)

_C = catalogue
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

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
                "NotFound": responses((_C.NOT_FOUND,))["404"],
                "MethodNotAllowed": responses((_C.METHOD_NOT_ALLOWED,))["405"],
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
                "Envelope": ENVELOPE,
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
                    "responses": responses(REQUEST_CODE),
                }
            },
            "/1/2fa/{client_ref}/{code}": {
                "post": {
                    "operationId": "validateCode",
                    "summary": "Check a code; any body is ignored.",
                    "security": security,
                    "parameters": [path_param("client_ref", "The request's client_ref."),
                                   path_param("code", "The code the user typed.")],
                    "responses": responses(VALIDATE_CODE),
                }
            },
            "/1/2fa/{client_ref}": {
                "post": {
                    "operationId": "validateWithoutCode",
                    "summary": "A validation without a code: always -56 once authorised.",
                    "security": security,
                    "parameters": [path_param("client_ref", "The request's client_ref.")],
                    "responses": responses(VALIDATE_WITHOUT_CODE),
                }
            },
            "/1/dlr/{secret}": {
                "post": {
                    "operationId": "deliveryReports",
                    "summary": "Delivery reports from the mediariver gateway.",
                    "parameters": [path_param("secret", "The configured TFA_DLR_SECRET.")],
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
                        **responses(DELIVERY_REPORTS),
                    },
                }
            },
            "/1/delivery/{gateway}": {
                "post": {
                    "operationId": "gatewayDeliveryReports",
                    "summary": "Delivery reports of an http gateway's provider (its webhook).",
                    "parameters": [
                        path_param("gateway", "The name of the http gateway."),
                        {"name": "secret", "in": "query", "required": False,
                         "description": "The configured TFA_DLR_SECRET (or the "
                                        "X-TFA-DLR-Secret header).",
                         "schema": {"type": "string"}},
                        {"name": "X-TFA-DLR-Secret", "in": "header", "required": False,
                         "description": "The configured TFA_DLR_SECRET (or the query's "
                                        "secret).",
                         "schema": {"type": "string"}},
                    ],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": {}},
                        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                    }},
                    "responses": {
                        "200": {"description": "The final reports of the body, handed on.",
                                "content": {"application/json": {"schema": {
                                    "type": "object", "required": ["accepted"],
                                    "properties": {"accepted": {"type": "integer",
                                                                "minimum": 0}}}}}},
                        **responses(DELIVERY_REPORTS),
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
                    }, **responses(READY)},
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
            "/docs": {
                "get": {
                    "operationId": "docs",
                    "summary": "This document in Swagger UI, a page for a browser.",
                    "responses": {"200": {"description": "An HTML page.",
                                          "content": {"text/html": {}}}},
                }
            },
        },
    }


@cache
def render_openapi() -> str:
    """The document as the JSON text kept in ``docs/openapi.json`` (built once: it
    depends on the catalogue only)."""
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


@lru_cache(maxsize=32)
def render_openapi_at(mount_path: str) -> str:
    """The document as an app mounted at ``mount_path`` serves it (a URL path such as
    "/tfa"; "" at the server's root): ``servers`` names that path, so that clients and
    Swagger UI call the API there. At the root it is :func:`render_openapi`."""
    if not mount_path:
        return render_openapi()
    document = build_openapi()
    head = {key: document.pop(key) for key in ("openapi", "info")}
    mounted = {**head, "servers": [{"url": mount_path}], **document}
    return json.dumps(mounted, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DOC_PATH.parent.mkdir(exist_ok=True)
    DOC_PATH.write_text(render_openapi(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")
