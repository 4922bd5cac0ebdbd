"""The same cases through every face: Falcon alone, Flask and Django with the middleware,
and a real ``tfa serve`` process. Each answers every case with the same status_code,
description and HTTP status, the same envelope and the same protocol headers.

Each case runs on every face in turn (one test per case), so a difference between faces
shows as one failing assertion naming the faces that differ.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tfa_engine import SQLiteStore, Status, StoreUnavailable, catalogue
from tfa_engine._access import token_digest
from tfa_engine.adapters.server.settings import Settings
from tfa_engine.config import DEFAULT_TEMPLATE, PLACEHOLDER
from tfa_engine.store._ranges import phone_range

pytestmark = pytest.mark.network

LANDLINE_UK = "+442079460000"
UK_OTHER = "+447400123456"  # a mobile number no case sends to
CODE_PREFIX = DEFAULT_TEMPLATE.split(PLACEHOLDER)[0]
MAX_BODY = Settings().max_body
MAX_ATTEMPTS = Settings().engine.max_attempts  # wrong tries before a code is dead
PHP_SDK = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "Fortytwo - PHP - SDK",
    "Accept": "application/json",
}
JSON = {"Content-Type": "application/json"}
OWN = object()  # "the face's own token"
FACE_NAMES = ("falcon", "flask", "django", "serve")
IN_PROCESS = ("falcon", "flask", "django")


def phone_for(index: int) -> str:
    """A valid UK mobile number of the case's own, so no case trips another's limit."""
    assert 0 <= index < 100, index
    return f"+4479111234{index:02d}"


def auth(face: Any, token: Any = OWN) -> dict[str, str]:
    """The Authorization header for ``token`` (None: no header)."""
    token = face.token if token is OWN else token
    return {} if token is None else {"Authorization": f"Token {token}"}


def request_code(
    face: Any, body: Any, *, token: Any = OWN, headers: dict[str, str] | None = None
) -> Any:
    """POST /1/2fa with ``body`` as JSON (bytes are sent as they are)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {**auth(face, token), **(JSON if headers is None else headers)}
    return face.post("/1/2fa", headers=all_headers, body=raw)


def send(face: Any, ref: str, phone: str) -> str:
    """Request a code that must succeed; the code read from the SMS."""
    reply = request_code(face, {"client_ref": ref, "phone_number": phone})
    assert reply.http == catalogue.SUCCESS.http, (face.name, reply.json)
    text: str = face.sms(phone)
    assert text.startswith(CODE_PREFIX), text
    return text[len(CODE_PREFIX):]


def validate(face: Any, ref: str, code: str, *, token: Any = OWN) -> Any:
    """POST /1/2fa/{ref}/{code} without a body."""
    return face.post(f"/1/2fa/{ref}/{code}", headers=auth(face, token))


def wrong(code: str) -> str:
    """A code of the same shape that is not ``code``."""
    return "000000" if code != "000000" else "111111"


# -- the cases: (face, client_ref, phone) -> Reply ----------------------------------------------
def _valid(face: Any, ref: str, phone: str) -> Any:
    return validate(face, ref, send(face, ref, phone))


def _used_twice(face: Any, ref: str, phone: str) -> Any:
    code = send(face, ref, phone)
    validate(face, ref, code)
    return validate(face, ref, code)


def _superseded(face: Any, ref: str, phone: str) -> Any:
    first = send(face, ref, phone)
    send(face, ref + "-new", phone)
    return validate(face, ref, first)


def _locked(face: Any, ref: str, phone: str) -> Any:
    code = send(face, ref, phone)
    for _ in range(MAX_ATTEMPTS):
        validate(face, ref, wrong(code))
    return validate(face, ref, code)


def _declined(face: Any, ref: str, phone: str) -> Any:
    return validate(face, ref, wrong(send(face, ref, phone)))


def _duplicate(face: Any, ref: str, phone: str) -> Any:
    send(face, ref, phone)
    return request_code(face, {"client_ref": ref, "phone_number": phone})


def _rate_limited(face: Any, ref: str, phone: str) -> Any:
    for index in range(face.phone_send_limit):
        send(face, f"{ref}-{index}", phone)
    return request_code(face, {"client_ref": ref, "phone_number": phone})


def _budget_spent(face: Any, ref: str, phone: str) -> Any:
    first = request_code(face, {"client_ref": f"{ref}-1", "phone_number": phone},
                         token=face.budget_token)
    assert first.http == catalogue.SUCCESS.http, (face.name, first.json)
    return request_code(face, {"client_ref": ref, "phone_number": phone}, token=face.budget_token)


def _range_held(face: Any, ref: str, phone: str) -> Any:
    store = SQLiteStore(face.database)
    try:
        watched = store.token_by_digest(token_digest(face.watched_token))
        assert watched is not None
        store.hold_range(watched.id, phone_range(phone), time.time() + 3600)
    finally:
        store.close()
    return request_code(face, {"client_ref": ref, "phone_number": phone},
                        token=face.watched_token)


def _sdk_request(phone_text: Callable[[str], str]) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        body = {"phone_number": phone_text(phone), "client_ref": ref, "code_length": 6,
                "code_type": "numeric"}
        reply = request_code(face, body, headers=PHP_SDK)
        face.sms(phone)  # the SMS went to the E.164 number either way
        return reply

    return case


def _content_type(value: str) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        reply = request_code(face, {"client_ref": ref, "phone_number": phone},
                             headers={"Content-Type": value})
        face.sms(phone)
        return reply

    return case


def _sdk_validate(face: Any, ref: str, phone: str) -> Any:
    code = send(face, ref, phone)
    return face.post(f"/1/2fa/{ref}/{code}", headers={**auth(face), **PHP_SDK}, body=b"")


def _fields(**fields: Any) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        body = {"client_ref": ref, "phone_number": phone, **fields}
        return request_code(face, {k: v for k, v in body.items() if v is not None})

    return case


def _body(raw: bytes, headers: dict[str, str] | None = None) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        return request_code(face, raw, headers=headers)

    return case


def _repeated_phone_number(face: Any, ref: str, phone: str) -> Any:
    # A reader taking the first key sees the case's phone; json.loads alone takes the last.
    raw = f'{{"client_ref": "{ref}", "phone_number": "{phone}", "phone_number": "{UK_OTHER}"}}'
    return request_code(face, raw.encode())


def _token(token: Callable[[Any], str | None]) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        body = {"client_ref": ref, "phone_number": phone}
        return request_code(face, body, token=token(face))

    return case


def _headers(token: Callable[[Any], str | None], **extra: str) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        headers = {**auth(face, token(face)), **JSON, **extra}
        body = json.dumps({"client_ref": ref, "phone_number": phone}).encode()
        return face.post("/1/2fa", headers=headers, body=body)

    return case


def _valid_quoted_ref(face: Any, ref: str, phone: str) -> Any:
    ref = f"café {ref}"  # percent-encoded in the path, decoded by every face alike
    return validate(face, quote(ref, safe=""), send(face, ref, phone))


def _call(method: str, path: str) -> Callable[[Any, str, str], Any]:
    def case(face: Any, ref: str, phone: str) -> Any:
        return face.request(method, path.format(ref=ref), headers=auth(face), body=None)

    return case


TABLE: list[tuple[str, Callable[[Any, str, str], Any], Status]] = [
    ("0-success", _fields(), catalogue.SUCCESS),
    ("0-valid", _valid, catalogue.VALID),
    ("0-valid-percent-encoded-ref", _valid_quoted_ref, catalogue.VALID),
    ("0-content-type-upper-case", _content_type("Application/JSON"), catalogue.SUCCESS),
    ("0-content-type-charset", _content_type("application/json;charset=UTF-8"),
     catalogue.SUCCESS),
    ("php-sdk-request-plus", _sdk_request(lambda p: p), catalogue.SUCCESS),
    ("php-sdk-request-bare", _sdk_request(lambda p: p.lstrip("+")), catalogue.SUCCESS),
    ("php-sdk-validate-empty-body", _sdk_validate, catalogue.VALID),
    ("-50", _token(lambda face: "not-a-token"), catalogue.TOKEN_INVALID),
    ("-50-unknown-uuid", _token(lambda face: str(uuid.UUID(int=1))), catalogue.TOKEN_INVALID),
    ("-51", _token(lambda face: None), catalogue.TOKEN_MISSING),
    ("-51-empty-header", _headers(lambda face: None, Authorization=""), catalogue.TOKEN_MISSING),
    ("-52", _duplicate, catalogue.CLIENT_REF_EXISTS),
    ("-53-used", _used_twice, catalogue.INVALID),
    ("-53-superseded", _superseded, catalogue.INVALID),
    ("-53-locked", _locked, catalogue.INVALID),
    ("-54", _declined, catalogue.DECLINED),
    ("-55", _call("POST", "/1/2fa/{ref}/123456"), catalogue.CODE_NOT_FOUND),
    ("-56-no-segment", _call("POST", "/1/2fa/{ref}"), catalogue.NO_CODE),
    ("-56-empty-segment", _call("POST", "/1/2fa/{ref}/"), catalogue.NO_CODE),
    ("-57", _fields(code_length=5), catalogue.CODE_TOO_SHORT),
    ("-58", _fields(code_length=21), catalogue.CODE_TOO_LONG),
    ("-59", _fields(phone_number=LANDLINE_UK), catalogue.PHONE_INVALID),
    ("-60", _fields(phone_number=None), catalogue.PHONE_MISSING),
    ("-61-scheme", _fields(callback_url="ftp://example.com/cb"), catalogue.CALLBACK_INVALID),
    ("-61-loopback", _fields(callback_url="http://127.0.0.1/cb"), catalogue.CALLBACK_INVALID),
    ("-62", _fields(client_ref=None), catalogue.CLIENT_REF_MISSING),
    ("-63", _fields(sender_id="Much Too Long"), catalogue.SENDER_ID_INVALID),
    ("-64-broken-json", _body(b'{"client_ref": "x",'), catalogue.MALFORMED),
    ("-64-not-an-object", _body(b'["client_ref", "x"]'), catalogue.MALFORMED),
    ("-64-empty-body", _body(b""), catalogue.MALFORMED),
    ("-64-body-at-the-size-limit", _body(b" " * MAX_BODY), catalogue.MALFORMED),
    ("-64-phone-as-number", _fields(phone_number=447911123456), catalogue.MALFORMED),
    ("-64-repeated-key", _repeated_phone_number, catalogue.MALFORMED),
    ("-64-client-ref-too-long", _fields(client_ref="r" * 65), catalogue.MALFORMED),
    ("-66", _token(lambda face: face.broken_token), catalogue.ALLOWLIST_INVALID),
    ("-66-validate", lambda face, ref, phone: validate(face, ref, "123456",
                                                        token=face.broken_token),
     catalogue.ALLOWLIST_INVALID),
    ("-67", _token(lambda face: face.fenced_token), catalogue.IP_NOT_ALLOWED),
    ("-67-forwarding-header-not-believed",
     _headers(lambda face: face.fenced_token, **{"X-Forwarded-For": "10.1.2.3"}),
     catalogue.IP_NOT_ALLOWED),
    ("-68", _fields(message_template="Your code"), catalogue.TEMPLATE_NO_PLACEHOLDER),
    ("-69", _fields(message_template="x" * 160 + PLACEHOLDER), catalogue.TEMPLATE_TOO_LONG),
    ("-70", _rate_limited, catalogue.RATE_LIMITED),
    ("-75", _token(lambda face: face.germany_token), catalogue.DESTINATION_REFUSED),
    ("-76", _budget_spent, catalogue.BUDGET_EXHAUSTED),
    ("-77", _range_held, catalogue.FRAUD_HELD),
    ("-71", _call("POST", "/nowhere"), catalogue.NOT_FOUND),
    ("-71-extra-segment", _call("POST", "/1/2fa/{ref}/123456/more"), catalogue.NOT_FOUND),
    ("-72-get", _call("GET", "/1/2fa"), catalogue.METHOD_NOT_ALLOWED),
    ("-72-put-validate", _call("PUT", "/1/2fa/{ref}/123456"), catalogue.METHOD_NOT_ALLOWED),
    ("-73", _body(b" " * (MAX_BODY + 1)), catalogue.TOO_LARGE),
    ("-74-text-plain", _body(b"{}", {"Content-Type": "text/plain"}), catalogue.UNSUPPORTED_MEDIA),
    ("-74-no-content-type", _body(b"{}", {}), catalogue.UNSUPPORTED_MEDIA),
]
CASES = [
    pytest.param(case, expected, index, id=name)
    for index, (name, case, expected) in enumerate(TABLE)
]
# Statuses reached by the tests after the table (they need a failing gateway or store).
ELSEWHERE = {catalogue.SYSTEM_ERROR, catalogue.INTERNAL_ERROR, catalogue.UNAVAILABLE}


def outcome(reply: Any) -> tuple[object, object, int]:
    """(status_code, description, HTTP status) of a reply."""
    info = reply.json["result_info"]
    return info["status_code"], info["description"], reply.http


def literal(status: Status) -> tuple[object, object, int]:
    """The (status_code, description, HTTP status) a status stands for."""
    return status.code, status.text, status.http


def shape(reply: Any) -> dict[str, object]:
    """What must not differ between faces beyond the outcome: envelope and protocol headers."""
    return {
        "envelope": sorted(reply.json),
        "result": sorted(reply.json.get("result") or {}),
        "content-type": reply.headers.get("content-type"),
        "cache-control": reply.headers.get("cache-control"),
        "allow": reply.headers.get("allow"),
        "retry-after": "retry-after" in reply.headers,
    }


def run_everywhere(faces: dict[str, Any], case: Any, index: int) -> dict[str, Any]:
    """Run ``case`` on every face with the case's own client_ref and phone number."""
    return {name: case(face, f"case-{index}", phone_for(index)) for name, face in faces.items()}


def is_uuid(value: object) -> bool:
    """True for a UUID in its canonical 8-4-4-4-12 hex form."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def assert_fresh_job_ids(faces: dict[str, Any], since: dict[str, int]) -> None:
    """Every reply each face gave after ``since`` carries a UUID api_job_id, none repeated."""
    ids = [
        (name, reply.json.get("api_job_id"))
        for name, face in faces.items()
        for reply in face.replies[since[name]:]
    ]
    assert [pair for pair in ids if not is_uuid(pair[1])] == []
    assert len({job_id for _, job_id in ids}) == len(ids), ids


def reply_counts(faces: dict[str, Any]) -> dict[str, int]:
    """How many replies each face has given so far."""
    return {name: len(face.replies) for name, face in faces.items()}


def test_faces_are_the_four_faces(faces: dict[str, Any]) -> None:
    """The suite drives Falcon, Flask + middleware, Django + middleware and tfa serve."""
    assert tuple(faces) == FACE_NAMES


@pytest.mark.parametrize(("case", "expected", "index"), CASES)
def test_case_answers_alike_on_every_face(
    faces: dict[str, Any], case: Any, expected: Status, index: int
) -> None:
    """Every face answers the case with the expected status, text and HTTP status, alike."""
    before = reply_counts(faces)
    replies = run_everywhere(faces, case, index)
    outcomes = {name: outcome(reply) for name, reply in replies.items()}
    assert outcomes == dict.fromkeys(FACE_NAMES, literal(expected))
    shapes = {name: shape(reply) for name, reply in replies.items()}
    assert shapes == dict.fromkeys(FACE_NAMES, shapes["falcon"])
    assert_fresh_job_ids(faces, before)


def test_rate_limited_reply_says_when_to_retry(faces: dict[str, Any]) -> None:
    """-70 carries Retry-After in whole seconds within the phone window, on every face."""
    replies = run_everywhere(faces, _rate_limited, len(TABLE))
    retry = {name: reply.headers.get("retry-after", "") for name, reply in replies.items()}
    assert all(value.isdigit() and 1 <= int(value) <= 600 for value in retry.values()), retry


def test_method_not_allowed_lists_the_allowed_methods(faces: dict[str, Any]) -> None:
    """-72 carries the same Allow header on every face, naming POST."""
    replies = run_everywhere(faces, _call("GET", "/1/2fa"), len(TABLE) + 1)
    allow = {name: reply.headers.get("allow") for name, reply in replies.items()}
    assert "POST" in (allow["falcon"] or "").split(", ")
    assert allow == dict.fromkeys(FACE_NAMES, allow["falcon"])


def test_success_message_id_is_decimal_on_every_face(faces: dict[str, Any]) -> None:
    """The 201's result.message_id is a decimal string on every face."""
    replies = run_everywhere(faces, _fields(), len(TABLE) + 2)
    ids = {name: reply.json["result"]["message_id"] for name, reply in replies.items()}
    assert all(isinstance(i, str) and i.isascii() and i.isdigit() for i in ids.values()), ids


def test_gateway_failure_is_65_with_http_400(
    faces: dict[str, Any], unreachable_gateway_face: Any
) -> None:
    """An SMS the gateway does not take gives -65 with HTTP 400 on every face.

    In process the memory gateway is told to refuse; the served process (whose console
    gateway cannot fail) is a second one, sending through mediariver to a closed port.
    """
    ref, phone = "gateway-down", phone_for(len(TABLE) + 3)
    served = {"serve": unreachable_gateway_face}
    before = reply_counts(faces) | reply_counts(served)
    replies = {}
    for name in IN_PROCESS:
        with faces[name].failing_gateway():
            replies[name] = _fields()(faces[name], ref, phone)
    replies["serve"] = _fields()(unreachable_gateway_face, ref, phone)
    outcomes = {name: outcome(reply) for name, reply in replies.items()}
    assert outcomes == dict.fromkeys(FACE_NAMES, literal(catalogue.SYSTEM_ERROR))
    assert_fresh_job_ids({**{name: faces[name] for name in IN_PROCESS}, **served}, before)


def test_unexpected_store_failure_is_65_with_http_500(fresh_faces: dict[str, Any]) -> None:
    """A table gone from under the service gives -65 with HTTP 500 on every face."""
    for face in fresh_faces.values():
        face.break_store()
    replies = run_everywhere(fresh_faces, _fields(), 0)
    outcomes = {name: outcome(reply) for name, reply in replies.items()}
    assert outcomes == dict.fromkeys(FACE_NAMES, literal(catalogue.INTERNAL_ERROR))
    assert_fresh_job_ids(fresh_faces, dict.fromkeys(FACE_NAMES, 0))


class _UnavailableStore:
    """Stands in for a store that cannot serve: every call raises StoreUnavailable."""

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("database or disk is full")

        return refuse


def test_store_unavailable_is_78_with_retry_after_in_process(
    fresh_faces: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot serve gives -78, HTTP 503 and Retry-After on the in-process
    faces, and /health/ready says so. (A served process needs a store that really fails:
    the disk-full test of the store.)"""
    for name in IN_PROCESS:
        monkeypatch.setattr(fresh_faces[name].engine, "store", _UnavailableStore())
    in_process = {name: fresh_faces[name] for name in IN_PROCESS}
    replies = run_everywhere(in_process, _fields(), 0)
    ready = {name: face.request("GET", "/health/ready", headers={}, body=None)
             for name, face in in_process.items()}
    for answers in (replies, ready):
        assert {name: outcome(reply) for name, reply in answers.items()} == dict.fromkeys(
            IN_PROCESS, literal(catalogue.UNAVAILABLE))
        assert {name: reply.headers.get("retry-after") for name, reply in answers.items()} == (
            dict.fromkeys(IN_PROCESS, "5"))


def test_every_catalogue_status_is_driven_through_the_faces() -> None:
    """The table and the failure tests reach every status of the catalogue."""
    covered = {expected for _, _, expected in TABLE} | ELSEWHERE
    assert covered == set(catalogue.CATALOGUE)
