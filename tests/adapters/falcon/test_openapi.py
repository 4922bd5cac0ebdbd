"""The OpenAPI document: kept in step with the code, valid, served, and true to real answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import falcon
import falcon.testing
import pytest
from fake_clock import FakeClock
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from openapi_spec_validator import validate
from outage import OutageStore
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from server_http import api_headers
from wsgi_in_process import call_app

from tfa_engine import Engine, EngineConfig, MemoryGateway, RateLimit, Status, catalogue
from tfa_engine.adapters.falcon import create_app
from tfa_engine.adapters.falcon.openapi import DOC_PATH, build_openapi, render_openapi
from tfa_engine.config import PLACEHOLDER
from tfa_engine.gateways import GatewayError

UK_MOBILE = "+447911123456"
LANDLINE_UK = "+442079460000"
DLR_SECRET = "s3cret"
DOC_URI = "urn:tfa-engine:openapi"
REQUEST = ("/1/2fa", "post")
VALIDATE = ("/1/2fa/{client_ref}/{code}", "post")
WITHOUT_CODE = ("/1/2fa/{client_ref}", "post")
DLR = ("/1/dlr/{secret}", "post")
HEALTH = ("/health", "get")
READY = ("/health/ready", "get")
_DEFAULT: Any = object()


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names) and decoded JSON body."""

    status: int
    headers: Mapping[str, str]
    body: Any


class Client:
    """The Falcon app on a fresh memory engine, spoken to as a client holding a token."""

    def __init__(self, **config: Any) -> None:
        self.clock = FakeClock()
        self.gateway = MemoryGateway()
        self.store = OutageStore()  # store.down = True: every call raises StoreUnavailable
        self.engine = Engine(
            self.store,
            self.gateway,
            EngineConfig(argon2_profile="test", dlr_secret=DLR_SECRET, **config),
            clock=self.clock,
            resolver=None,
        )
        self.token = self.engine.create_token("shop").token
        self.app = create_app(self.engine)
        self.http = falcon.testing.TestClient(self.app)

    def post(
        self,
        path: str,
        *,
        body: bytes | None = None,
        json_body: Any = _DEFAULT,
        token: Any = _DEFAULT,
        content_type: str | None = "application/json",
        remote_addr: str = "127.0.0.1",
    ) -> Answer:
        """POST ``path``; ``token=None`` sends no Authorization header."""
        headers = api_headers(self.token if token is _DEFAULT else token, content_type)
        if json_body is not _DEFAULT:
            body = json.dumps(json_body).encode()
        result = self.http.simulate_post(
            path, body=body, headers=headers, remote_addr=remote_addr
        )
        return Answer(result.status_code, _lower(result.headers), result.json)

    def get(self, path: str) -> Answer:
        """GET ``path`` without a token."""
        result = self.http.simulate_get(path)
        return Answer(result.status_code, _lower(result.headers), result.json)

    def post_with_bad_length(self, path: str) -> Answer:
        """POST with an unparsable Content-Length (falcon.testing refuses to send one)."""
        env = falcon.testing.create_environ(
            path=path, method="POST", headers={"Authorization": f"Token {self.token}"}
        )
        env["CONTENT_LENGTH"] = "twelve"
        status, headers, body = call_app(self.app, env)
        return Answer(int(status.split()[0]), _lower(dict(headers)), json.loads(body))

    def request(
        self, client_ref: str | None = "ref-1", phone_number: Any = UK_MOBILE, **kwargs: Any
    ) -> Answer:
        """Request a code; other body fields go in ``fields``."""
        fields = kwargs.pop("fields", {})
        body = {"client_ref": client_ref, "phone_number": phone_number, **fields}
        body = {name: value for name, value in body.items() if value is not None}
        return self.post("/1/2fa", json_body=body, **kwargs)

    def validate(self, client_ref: str, code: str, **kwargs: Any) -> Answer:
        """Validate ``code`` for ``client_ref``."""
        return self.post(f"/1/2fa/{client_ref}/{code}", content_type=None, **kwargs)

    def send(self, client_ref: str) -> tuple[str, str]:
        """Request a code that must succeed; ``(message_id, code)``."""
        answer = self.request(client_ref)
        assert answer.status == 201, answer.body
        message_id = answer.body["result"]["message_id"]
        message = next(m for m in self.gateway.messages if m.message_id == message_id)
        prefix = self.engine.config.default_template.split(PLACEHOLDER)[0]
        return message_id, message.text[len(prefix) :]

    def dlr(self, payload: Any, secret: str = DLR_SECRET) -> Answer:
        """Post delivery reports (a JSON value, or raw bytes)."""
        if isinstance(payload, bytes):
            return self.post(f"/1/dlr/{secret}", body=payload, token=None)
        return self.post(f"/1/dlr/{secret}", json_body=payload, token=None)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.fixture
def client() -> Iterator[Client]:
    """A client of a fresh app."""
    made = Client()
    try:
        yield made
    finally:
        made.engine.close()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The OpenAPI document as the code builds it."""
    return build_openapi()


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _validator(document: Mapping[str, Any], *pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer``, resolving $refs within ``document``."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, DRAFT202012.create_resource(document)
    )
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#/{_pointer(*pointer)}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _schema_errors(document: Mapping[str, Any], pointer: tuple[str, ...], body: Any) -> list[str]:
    return [error.message for error in _validator(document, *pointer).iter_errors(body)]


def _all_responses(document: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], str | None]]:
    """Every JSON response schema of the document: its pointer, and the HTTP status it
    is listed under (None for a reusable response in ``components``, which has none)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for http, response in operation["responses"].items():
                if "schema" in response.get("content", {}).get("application/json", {}):
                    yield ("paths", path, method, "responses", http, "content",
                           "application/json", "schema"), http
    for name, response in document["components"].get("responses", {}).items():
        if "schema" in response.get("content", {}).get("application/json", {}):
            yield ("components", "responses", name, "content", "application/json",
                   "schema"), None


def _sample_envelope(status: Status) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api_job_id": "4c6ba1fe-1a32-45f6-b41c-a65542777fad",
        "result_info": status.as_result_info(),
    }
    if status is catalogue.SUCCESS:
        body["result"] = {"message_id": "12345678901234567890"}
    return body


# -- the document itself -------------------------------------------------------------------


def test_kept_copy_matches_the_code() -> None:
    """docs/openapi.json is exactly what adapters.falcon.openapi builds."""
    assert DOC_PATH.read_text(encoding="utf-8") == render_openapi(), (
        "docs/openapi.json is stale: run `python -m tfa_engine.adapters.falcon.openapi`"
    )


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    """The document passes the OpenAPI 3.1 specification validator."""
    validate(document)


def test_app_serves_the_document(client: Client) -> None:
    """GET /openapi.json answers 200 with the document as JSON."""
    answer = client.get("/openapi.json")
    assert (answer.status, answer.headers["content-type"], answer.body) == (
        200, falcon.MEDIA_JSON, build_openapi())


@pytest.mark.parametrize("status", catalogue.CATALOGUE, ids=lambda status: status.name)
def test_every_status_is_documented(document: dict[str, Any], status: Status) -> None:
    """A response of the document (under the status's HTTP code) admits its envelope."""
    envelope = _sample_envelope(status)
    admitting = [
        pointer
        for pointer, http in _all_responses(document)
        if http in (None, str(status.http))
        and not _schema_errors(document, pointer, envelope)
    ]
    assert admitting, f"{status.code} {status.text!r} (HTTP {status.http}) is not documented"


# -- real answers against the document -----------------------------------------------------


def _duplicate(client: Client) -> Answer:
    client.send("dup")
    return client.request("dup")


def _expired(client: Client) -> Answer:
    _, code = client.send("late")
    client.clock.now += 301
    return client.validate("late", code)


def _valid(client: Client) -> Answer:
    _, code = client.send("good")
    return client.validate("good", code)


def _declined(client: Client) -> Answer:
    _, code = client.send("typo")
    return client.validate("typo", "000000" if code != "000000" else "111111")


def _bad_allowlist(path: str) -> Callable[[Client], Answer]:
    def scenario(client: Client) -> Answer:
        client.engine.declare_token("from-config", "declared-token", allowed_ips=["not-an-ip"])
        return client.post(path, json_body={}, token="declared-token")

    return scenario


def _ip_not_allowed(path: str) -> Callable[[Client], Answer]:
    def scenario(client: Client) -> Answer:
        fenced = client.engine.create_token("fenced", allowed_ips=["10.0.0.0/8"]).token
        return client.post(path, json_body={}, token=fenced, remote_addr="192.0.2.10")

    return scenario


def _sends_limited(client: Client) -> Answer:
    for index in range(client.engine.config.limit_phone_sends.count):
        client.send(f"burst-{index}")
    return client.request("burst-over")


def _destination_refused(client: Client) -> Answer:
    germany = client.engine.create_token("germany", allowed_destinations=["DE"]).token
    return client.post("/1/2fa", json_body={"client_ref": "r", "phone_number": UK_MOBILE},
                       token=germany)


def _budget_exhausted(client: Client) -> Answer:
    budgeted = Client(limit_token_sms=RateLimit(1, 86400))
    budgeted.send("first")
    return budgeted.request("second")


def _fraud_held(client: Client) -> Answer:
    watched = Client(fraud_min_sends=1)
    watched.send("first")
    return watched.request("second")


def _validations_limited(client: Client) -> Answer:
    limited = Client(limit_token_requests=RateLimit(1, 60))
    try:
        limited.validate("never-sent", "123456")
        return limited.validate("never-sent", "123456")
    finally:
        limited.engine.close()


def _gateway_refuses(client: Client) -> Answer:
    client.gateway.failure = GatewayError("unreachable")
    return client.request()


def _store_fails(method: str, path: str, **post: Any) -> Callable[[Client], Answer]:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store unavailable")

    def scenario(client: Client) -> Answer:
        setattr(client.engine.store, method, broken)
        return client.post(path, **post)

    return scenario


def _store_down(call: Callable[[Client], Answer]) -> Callable[[Client], Answer]:
    def scenario(client: Client) -> Answer:
        client.store.down = True
        return call(client)

    return scenario


def _reported(client: Client) -> Answer:
    message_id, _ = client.send("reported")
    return client.dlr({"msisdn": UK_MOBILE.lstrip("+"), "delivery_status": "DELIVRD",
                       "delivery_date": "2024-01-01 12:00:00", "uuid": message_id})


def _health(client: Client) -> Answer:
    return client.get("/health")


TOO_LARGE = b" " * (16 * 1024 + 1)

ANSWERS = [
    # POST /1/2fa
    pytest.param(lambda c: c.request(), REQUEST, catalogue.SUCCESS, id="request-0"),
    pytest.param(lambda c: c.request(token="nope"), REQUEST, catalogue.TOKEN_INVALID,
                 id="request-50"),
    pytest.param(lambda c: c.request(token=None), REQUEST, catalogue.TOKEN_MISSING,
                 id="request-51"),
    pytest.param(_duplicate, REQUEST, catalogue.CLIENT_REF_EXISTS, id="request-52"),
    pytest.param(lambda c: c.request(fields={"code_length": 5}), REQUEST,
                 catalogue.CODE_TOO_SHORT, id="request-57"),
    pytest.param(lambda c: c.request(fields={"code_length": 21}), REQUEST,
                 catalogue.CODE_TOO_LONG, id="request-58"),
    pytest.param(lambda c: c.request(phone_number=LANDLINE_UK), REQUEST,
                 catalogue.PHONE_INVALID, id="request-59"),
    pytest.param(lambda c: c.request(phone_number=None), REQUEST, catalogue.PHONE_MISSING,
                 id="request-60"),
    pytest.param(lambda c: c.request(fields={"callback_url": "ftp://example.com/cb"}),
                 REQUEST, catalogue.CALLBACK_INVALID, id="request-61"),
    pytest.param(lambda c: c.request(client_ref=None), REQUEST, catalogue.CLIENT_REF_MISSING,
                 id="request-62"),
    pytest.param(lambda c: c.request(fields={"sender_id": "Much Too Long"}), REQUEST,
                 catalogue.SENDER_ID_INVALID, id="request-63"),
    pytest.param(lambda c: c.post("/1/2fa", body=b'{"client_ref": "x",'), REQUEST,
                 catalogue.MALFORMED, id="request-64"),
    pytest.param(_gateway_refuses, REQUEST, catalogue.SYSTEM_ERROR, id="request-65"),
    pytest.param(_bad_allowlist("/1/2fa"), REQUEST, catalogue.ALLOWLIST_INVALID,
                 id="request-66"),
    pytest.param(_ip_not_allowed("/1/2fa"), REQUEST, catalogue.IP_NOT_ALLOWED,
                 id="request-67"),
    pytest.param(lambda c: c.request(fields={"message_template": "Your code"}), REQUEST,
                 catalogue.TEMPLATE_NO_PLACEHOLDER, id="request-68"),
    pytest.param(lambda c: c.request(fields={"message_template": "x" * 160 + PLACEHOLDER}),
                 REQUEST, catalogue.TEMPLATE_TOO_LONG, id="request-69"),
    pytest.param(_sends_limited, REQUEST, catalogue.RATE_LIMITED, id="request-70"),
    pytest.param(_destination_refused, REQUEST, catalogue.DESTINATION_REFUSED, id="request-75"),
    pytest.param(_budget_exhausted, REQUEST, catalogue.BUDGET_EXHAUSTED, id="request-76"),
    pytest.param(_fraud_held, REQUEST, catalogue.FRAUD_HELD, id="request-77"),
    pytest.param(lambda c: c.post("/1/2fa", body=TOO_LARGE), REQUEST, catalogue.TOO_LARGE,
                 id="request-73"),
    pytest.param(lambda c: c.request(content_type="text/plain"), REQUEST,
                 catalogue.UNSUPPORTED_MEDIA, id="request-74"),
    pytest.param(_store_fails("preview_send", "/1/2fa",
                              json_body={"client_ref": "r", "phone_number": UK_MOBILE}),
                 REQUEST, catalogue.INTERNAL_ERROR, id="request-65-500"),
    pytest.param(_store_down(lambda c: c.request()), REQUEST, catalogue.UNAVAILABLE,
                 id="request-78"),
    # POST /1/2fa/{client_ref}/{code}
    pytest.param(_valid, VALIDATE, catalogue.VALID, id="validate-0"),
    pytest.param(lambda c: c.validate("r", "123456", token="nope"), VALIDATE,
                 catalogue.TOKEN_INVALID, id="validate-50"),
    pytest.param(lambda c: c.validate("r", "123456", token=None), VALIDATE,
                 catalogue.TOKEN_MISSING, id="validate-51"),
    pytest.param(_expired, VALIDATE, catalogue.INVALID, id="validate-53"),
    pytest.param(_declined, VALIDATE, catalogue.DECLINED, id="validate-54"),
    pytest.param(lambda c: c.validate("never-sent", "123456"), VALIDATE,
                 catalogue.CODE_NOT_FOUND, id="validate-55"),
    pytest.param(lambda c: c.post_with_bad_length("/1/2fa/r/123456"), VALIDATE,
                 catalogue.MALFORMED, id="validate-64"),
    pytest.param(_bad_allowlist("/1/2fa/r/123456"), VALIDATE, catalogue.ALLOWLIST_INVALID,
                 id="validate-66"),
    pytest.param(_ip_not_allowed("/1/2fa/r/123456"), VALIDATE, catalogue.IP_NOT_ALLOWED,
                 id="validate-67"),
    pytest.param(_validations_limited, VALIDATE, catalogue.RATE_LIMITED, id="validate-70"),
    pytest.param(lambda c: c.post("/1/2fa/r/123456", body=TOO_LARGE), VALIDATE,
                 catalogue.TOO_LARGE, id="validate-73"),
    pytest.param(_store_fails("find_code", "/1/2fa/r/123456"), VALIDATE,
                 catalogue.INTERNAL_ERROR, id="validate-65-500"),
    pytest.param(_store_down(lambda c: c.validate("r", "123456")), VALIDATE,
                 catalogue.UNAVAILABLE, id="validate-78"),
    # POST /1/2fa/{client_ref}
    pytest.param(lambda c: c.post("/1/2fa/r"), WITHOUT_CODE, catalogue.NO_CODE,
                 id="without-code-56"),
    pytest.param(lambda c: c.post("/1/2fa/r/"), WITHOUT_CODE, catalogue.NO_CODE,
                 id="without-code-56-slash"),
    pytest.param(lambda c: c.post("/1/2fa/r", token="nope"), WITHOUT_CODE,
                 catalogue.TOKEN_INVALID, id="without-code-50"),
    pytest.param(lambda c: c.post("/1/2fa/r", token=None), WITHOUT_CODE,
                 catalogue.TOKEN_MISSING, id="without-code-51"),
    pytest.param(lambda c: c.post_with_bad_length("/1/2fa/r"), WITHOUT_CODE,
                 catalogue.MALFORMED, id="without-code-64"),
    pytest.param(_bad_allowlist("/1/2fa/r"), WITHOUT_CODE, catalogue.ALLOWLIST_INVALID,
                 id="without-code-66"),
    pytest.param(_ip_not_allowed("/1/2fa/r"), WITHOUT_CODE, catalogue.IP_NOT_ALLOWED,
                 id="without-code-67"),
    pytest.param(lambda c: c.post("/1/2fa/r", body=TOO_LARGE), WITHOUT_CODE,
                 catalogue.TOO_LARGE, id="without-code-73"),
    pytest.param(_store_fails("token_by_digest", "/1/2fa/r"), WITHOUT_CODE,
                 catalogue.INTERNAL_ERROR, id="without-code-65-500"),
    pytest.param(_store_down(lambda c: c.post("/1/2fa/r")), WITHOUT_CODE,
                 catalogue.UNAVAILABLE, id="without-code-78"),
    # POST /1/dlr/{secret}
    pytest.param(_reported, DLR, 200, id="dlr-200"),
    pytest.param(lambda c: c.dlr([{"uuid": "1", "delivery_status": "DELIVRD"}]), DLR, 200,
                 id="dlr-200-unknown"),
    pytest.param(lambda c: c.dlr({"uuid": "1", "delivery_status": "DELIVRD"}, "wrong"),
                 DLR, catalogue.NOT_FOUND, id="dlr-71"),
    pytest.param(lambda c: c.dlr(b"{"), DLR, catalogue.MALFORMED, id="dlr-64"),
    pytest.param(lambda c: c.dlr([]), DLR, catalogue.MALFORMED, id="dlr-64-empty"),
    pytest.param(lambda c: c.dlr(TOO_LARGE), DLR, catalogue.TOO_LARGE, id="dlr-73"),
    pytest.param(_store_fails("record_delivery", f"/1/dlr/{DLR_SECRET}", token=None,
                              json_body={"uuid": "1", "delivery_status": "DELIVRD"}),
                 DLR, catalogue.INTERNAL_ERROR, id="dlr-65-500"),
    pytest.param(_store_down(lambda c: c.dlr({"uuid": "1", "delivery_status": "DELIVRD"})),
                 DLR, catalogue.UNAVAILABLE, id="dlr-78"),
    # GET /health, /health/ready
    pytest.param(_health, HEALTH, 200, id="health-200"),
    pytest.param(_store_down(_health), HEALTH, 200, id="health-200-store-down"),
    pytest.param(lambda c: c.get("/health/ready"), READY, 200, id="ready-200"),
    pytest.param(_store_down(lambda c: c.get("/health/ready")), READY, catalogue.UNAVAILABLE,
                 id="ready-78"),
]


@pytest.mark.parametrize(("scenario", "operation", "expected"), ANSWERS)
def test_answer_matches_the_document(
    client: Client,
    document: dict[str, Any],
    scenario: Callable[[Client], Answer],
    operation: tuple[str, str],
    expected: Status | int,
) -> None:
    """A real answer is documented for its operation: status, headers and body schema."""
    answer = scenario(client)
    if isinstance(expected, Status):
        assert (answer.status, answer.body["result_info"]) == (
            expected.http, expected.as_result_info())
    else:
        assert answer.status == expected
    path, method = operation
    responses = document["paths"][path][method]["responses"]
    assert str(answer.status) in responses, f"HTTP {answer.status} not documented"
    response = responses[str(answer.status)]
    assert answer.headers["content-type"] in response["content"]
    documented_headers = {name.lower() for name in response.get("headers", {})}
    assert documented_headers <= set(answer.headers), "a documented header is missing"
    pointer = ("paths", path, method, "responses", str(answer.status), "content",
               answer.headers["content-type"], "schema")
    assert _schema_errors(document, pointer, answer.body) == []


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(lambda c: c.post("/nowhere"), id="unknown-path-71"),
        pytest.param(lambda c: c.get("/1/2fa"), id="wrong-method-72"),
    ],
)
def test_answers_outside_operations_are_envelopes(
    client: Client, document: dict[str, Any], scenario: Callable[[Client], Answer]
) -> None:
    """Answers no operation describes still match the document's Envelope schema."""
    answer = scenario(client)
    pointer = ("components", "schemas", "Envelope")
    assert _schema_errors(document, pointer, answer.body) == []
