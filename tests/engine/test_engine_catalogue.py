"""Every catalogue status the engine can answer, produced through the engine itself.

The expected codes, HTTP statuses and texts are written out here by hand from the
Fortytwo catalogue and this service's extensions, so a typo in ``engine.catalogue`` fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from outage import OutageStore

from tfa_engine import Engine, MemoryGateway, Outcome, RateLimit, StoreUnavailable, catalogue
from tfa_engine.gateways import GatewayError
from tfa_engine.store import Store

UK = "+447911123456"
DE = "+4915123456789"
FR = "+33612345678"
IP = "127.0.0.1"
PLACEHOLDER = "{#TFA_CODE}"
MISSING = object()  # a field left out of the body

# name -> (status_code, HTTP status, description), copied from the Fortytwo docs and the README.
LITERALS: dict[str, tuple[int, int, str]] = {
    "SUCCESS": (0, 201, "Success"),
    "VALID": (0, 200, "Valid"),
    "TOKEN_INVALID": (-50, 401, "Your authorization token is invalid."),
    "TOKEN_MISSING": (-51, 401, "Authorization token not provided."),
    "CLIENT_REF_EXISTS": (
        -52,
        422,
        "Client ref provided already exists. Please provide a different one.",
    ),
    "INVALID": (-53, 200, "Invalid"),
    "DECLINED": (-54, 422, "Declined"),
    "CODE_NOT_FOUND": (
        -55,
        422,
        "The code for the provided client ref. and authorization token, was not found.",
    ),
    "NO_CODE": (-56, 422, "No code was provided."),
    "CODE_TOO_SHORT": (-57, 422, "Code length too short."),
    "CODE_TOO_LONG": (-58, 422, "Code length too long."),
    "PHONE_INVALID": (-59, 422, "Phone number format is incorrect."),
    "PHONE_MISSING": (-60, 422, "No phone number provided in request"),
    "CALLBACK_INVALID": (-61, 422, "Callback URL is invalid"),
    "CLIENT_REF_MISSING": (-62, 422, "No client ref provided in request"),
    "SENDER_ID_INVALID": (
        -63,
        422,
        "Sender ID is too long. Maximum numeric is 15 & maximum alphanumeric is 11.",
    ),
    "MALFORMED": (-64, 400, "System error – Request data provided was invalid."),
    "SYSTEM_ERROR": (
        -65,
        400,
        "Something went wrong. Make sure data provided is valid and please try again.",
    ),
    "ALLOWLIST_INVALID": (
        -66,
        400,
        "List of allowed IPs contains one or more invalid IP addresses.",
    ),
    "IP_NOT_ALLOWED": (-67, 400, "The request IP is not in your list of allowed IP addresses."),
    "TEMPLATE_NO_PLACEHOLDER": (
        -68,
        422,
        "Message template must contain placeholder {#TFA_CODE}.",
    ),
    "TEMPLATE_TOO_LONG": (-69, 422, "Message template exceeds the length of one SMS."),
    "RATE_LIMITED": (-70, 429, "Too many requests. Retry later."),
    "NOT_FOUND": (-71, 404, "Endpoint not found."),
    "METHOD_NOT_ALLOWED": (-72, 405, "Method not allowed."),
    "TOO_LARGE": (-73, 413, "Request entity too large."),
    "UNSUPPORTED_MEDIA": (-74, 415, "Unsupported media type. Use application/json."),
    "DESTINATION_REFUSED": (-75, 422, "Destination not allowed."),
    "BUDGET_EXHAUSTED": (-76, 429, "SMS budget exhausted. Retry later."),
    "FRAUD_HELD": (-77, 429, "Destination temporarily blocked."),
    "UNAVAILABLE": (-78, 503, "Service unavailable. Retry later."),
    "INTERNAL_ERROR": (
        -65,
        500,
        "Something went wrong. Make sure data provided is valid and please try again.",
    ),
}

# Statuses only an HTTP face can produce (no engine call answers them). -78 is how the
# faces answer the StoreUnavailable an engine call raises (test_store_unavailable_is_raised).
WAITS = {"RATE_LIMITED", "BUDGET_EXHAUSTED", "FRAUD_HELD"}  # answered with Retry-After
HTTP_ONLY = {"NOT_FOUND", "METHOD_NOT_ALLOWED", "TOO_LARGE", "UNAVAILABLE", "INTERNAL_ERROR"}


@dataclass
class World:
    """An engine with one token, and the knobs the cases turn."""

    engine: Engine
    token: str
    gateway: MemoryGateway
    make_engine: Callable[..., Engine]
    store: Store


@pytest.fixture
def world(make_engine: Callable[..., Engine], store: Store, gateway: MemoryGateway) -> World:
    """An engine on each backend with one fresh token."""
    engine = make_engine(store)
    return World(engine, engine.create_token("catalogue").token, gateway, make_engine, store)


def body(**changes: Any) -> dict[str, Any]:
    """A valid request body with some fields changed (``MISSING`` removes one)."""
    data: dict[str, Any] = {"client_ref": "ref-1", "phone_number": UK, **changes}
    return {key: value for key, value in data.items() if value is not MISSING}


def request(w: World, **changes: Any) -> Outcome:
    """Request a code on the world's engine with a body of ``changes``."""
    return w.engine.request_code(w.token, IP, body(**changes))


def sent_code(w: World, phone: str = UK) -> str:
    """The 6-digit code of the newest default-template SMS to ``phone``."""
    return w.gateway.last_to(phone).text[-6:]


def other_code(code: str) -> str:
    """A code of the same length that differs from ``code`` in every position."""
    return "".join("1" if ch == "0" else "0" for ch in code)


def ok(outcome: Outcome) -> Outcome:
    """Assert a setup step succeeded."""
    assert outcome.ok, outcome.status
    return outcome


# -- case bodies (each returns the outcome under test) -------------------------------------
def validate_right_code(w: World) -> Outcome:
    ok(request(w))
    return w.engine.validate_code(w.token, IP, "ref-1", sent_code(w))


def validate_used_code(w: World) -> Outcome:
    ok(validate_right_code(w))
    return w.engine.validate_code(w.token, IP, "ref-1", sent_code(w))


def validate_wrong_code(w: World) -> Outcome:
    ok(request(w))
    return w.engine.validate_code(w.token, IP, "ref-1", other_code(sent_code(w)))


def revoked_token_request(w: World) -> Outcome:
    issued = w.engine.create_token("to-revoke")
    assert w.engine.revoke_token(issued.record.id)
    return w.engine.request_code(issued.token, IP, body())


def duplicate_client_ref(w: World) -> Outcome:
    ok(request(w))
    return request(w, phone_number=DE)


def gateway_refuses(w: World) -> Outcome:
    w.gateway.failure = GatewayError("gateway down")
    return request(w)


def declared_bad_allowlist(w: World) -> Outcome:
    w.engine.declare_token("from-config", "declared-secret", allowed_ips=["10.0.0.0/33"])
    return w.engine.request_code("declared-secret", IP, body())


def ip_not_allowed(w: World) -> Outcome:
    issued = w.engine.create_token("office", allowed_ips=["10.0.0.0/8"])
    return w.engine.request_code(issued.token, "192.0.2.1", body())


def sixth_send_to_one_phone(w: World) -> Outcome:
    for i in range(5):
        ok(request(w, client_ref=f"send-{i}"))
    return request(w, client_ref="send-5")


def destination_not_allowed(w: World) -> Outcome:
    issued = w.engine.create_token("germany-only", allowed_destinations=["DE"])
    return w.engine.request_code(issued.token, IP, body())


def service_destination_not_allowed(w: World) -> Outcome:
    engine = w.make_engine(w.store, allowed_destinations=("+49",))
    return engine.request_code(w.token, IP, body())


def token_budget_spent(w: World) -> Outcome:
    issued = w.engine.create_token("budget", sms_budget=RateLimit(1, 86400))
    ok(w.engine.request_code(issued.token, IP, body(client_ref="a")))
    return w.engine.request_code(issued.token, IP, body(client_ref="b", phone_number=DE))


def service_budget_spent(w: World) -> Outcome:
    engine = w.make_engine(w.store, limit_service_sms=RateLimit(1, 3600))
    ok(engine.request_code(w.token, IP, body(client_ref="a")))
    return engine.request_code(w.token, IP, body(client_ref="b", phone_number=DE))


def range_held(w: World) -> Outcome:
    engine = w.make_engine(w.store, fraud_min_sends=2)
    ok(engine.request_code(w.token, IP, body(client_ref="a", phone_number="+447911123456")))
    ok(engine.request_code(w.token, IP, body(client_ref="b", phone_number="+447911223344")))
    return engine.request_code(w.token, IP, body(client_ref="c", phone_number="+447911000001"))


def token_request_limit(w: World) -> Outcome:
    engine = w.make_engine(w.store, limit_token_requests=RateLimit(2, 60))
    ok(engine.request_code(w.token, IP, body(client_ref="a", phone_number=UK)))
    ok(engine.request_code(w.token, IP, body(client_ref="b", phone_number=DE)))
    return engine.request_code(w.token, IP, body(client_ref="c", phone_number=FR))


def phone_failure_limit(w: World) -> Outcome:
    engine = w.make_engine(w.store, limit_phone_failures=RateLimit(2, 3600))
    ok(engine.request_code(w.token, IP, body()))
    wrong = other_code(sent_code(w))
    for _ in range(2):
        assert engine.validate_code(w.token, IP, "ref-1", wrong).status is catalogue.DECLINED
    return engine.validate_code(w.token, IP, "ref-1", sent_code(w))


def raw(w: World, data: bytes | str, content_type: str | None = None) -> Outcome:
    return w.engine.request_code(w.token, IP, data, content_type=content_type)


def case(name: str, call: Callable[[World], Outcome], label: str) -> Any:
    return pytest.param(name, call, id=f"{name}-{label}")


CASES = [
    case("SUCCESS", request, "defaults"),
    case(
        "SUCCESS",
        lambda w: raw(w, json.dumps(body()).encode(), "application/json; charset=utf-8"),
        "json-bytes-with-charset",
    ),
    case("VALID", validate_right_code, "right-code"),
    case("TOKEN_INVALID", lambda w: w.engine.request_code("no-such-token", IP, body()), "unknown"),
    case("TOKEN_INVALID", revoked_token_request, "revoked"),
    case("TOKEN_INVALID", lambda w: w.engine.request_code("", IP, body()), "empty"),
    case(
        "TOKEN_INVALID",
        lambda w: w.engine.validate_code("no-such-token", IP, "ref-1", "123456"),
        "unknown-on-validate",
    ),
    case("TOKEN_MISSING", lambda w: w.engine.request_code(None, IP, body()), "none"),
    case(
        "TOKEN_MISSING",
        lambda w: w.engine.validate_code(None, IP, "ref-1", "123456"),
        "none-on-validate",
    ),
    case("CLIENT_REF_EXISTS", duplicate_client_ref, "same-token"),
    case("INVALID", validate_used_code, "used"),
    case("DECLINED", validate_wrong_code, "wrong-code"),
    case(
        "CODE_NOT_FOUND",
        lambda w: w.engine.validate_code(w.token, IP, "never-sent", "123456"),
        "unknown-ref",
    ),
    case("NO_CODE", lambda w: w.engine.validate_code(w.token, IP, "ref-1", None), "none"),
    case("NO_CODE", lambda w: w.engine.validate_code(w.token, IP, "ref-1", ""), "empty"),
    case("CODE_TOO_SHORT", lambda w: request(w, code_length=5), "5"),
    case("CODE_TOO_LONG", lambda w: request(w, code_length=21), "21"),
    case("PHONE_INVALID", lambda w: request(w, phone_number="+442079460000"), "fixed-line"),
    case("PHONE_INVALID", lambda w: request(w, phone_number="call me"), "garbage"),
    case(
        "PHONE_INVALID",
        lambda w: request(w, phone_number="+\uff14\uff147911123456"),
        "fullwidth-digits",
    ),
    case("PHONE_MISSING", lambda w: request(w, phone_number=MISSING), "missing"),
    case("PHONE_MISSING", lambda w: request(w, phone_number=""), "empty"),
    case("PHONE_MISSING", lambda w: request(w, phone_number=None), "null"),
    case("CALLBACK_INVALID", lambda w: request(w, callback_url="/dlr"), "relative"),
    case("CALLBACK_INVALID", lambda w: request(w, callback_url="ftp://example.com/cb"), "ftp"),
    case("CALLBACK_INVALID", lambda w: request(w, callback_url="http://127.0.0.1/cb"), "loopback"),
    case("CLIENT_REF_MISSING", lambda w: request(w, client_ref=MISSING), "missing"),
    case("CLIENT_REF_MISSING", lambda w: request(w, client_ref=""), "empty"),
    case("CLIENT_REF_MISSING", lambda w: request(w, client_ref=None), "null"),
    case("SENDER_ID_INVALID", lambda w: request(w, sender_id="ABCDEFGHIJKL"), "12-letters"),
    case("SENDER_ID_INVALID", lambda w: request(w, sender_id="1" * 16), "16-digits"),
    case("SENDER_ID_INVALID", lambda w: request(w, sender_id=""), "empty"),
    case("SENDER_ID_INVALID", lambda w: request(w, sender_id="Zürich"), "non-ascii-letters"),
    case("MALFORMED", lambda w: raw(w, b"[1, 2]"), "json-array"),
    case("MALFORMED", lambda w: raw(w, '"a string"'), "json-string"),
    case("MALFORMED", lambda w: w.engine.request_code(w.token, IP, [1, 2]), "python-list"),
    case("MALFORMED", lambda w: raw(w, b'{"client_ref": '), "truncated"),
    case("MALFORMED", lambda w: raw(w, b"\xff\xfe\x00{"), "not-utf8"),
    case(
        "MALFORMED",
        lambda w: raw(w, b'{"client_ref": "r", "phone_number": "+447911123456", "x": NaN}'),
        "nan",
    ),
    case("MALFORMED", lambda w: request(w, phone_number=447911123456), "phone-as-number"),
    case("MALFORMED", lambda w: request(w, client_ref=42), "client-ref-as-number"),
    case("MALFORMED", lambda w: request(w, code_length=True), "code-length-true"),
    case("MALFORMED", lambda w: request(w, code_length="6"), "code-length-string"),
    case("MALFORMED", lambda w: request(w, code_length=6.0), "code-length-float"),
    case("MALFORMED", lambda w: request(w, case_sensitive="yes"), "case-sensitive-string"),
    case("MALFORMED", lambda w: request(w, code_type=1), "code-type-number"),
    case("MALFORMED", lambda w: request(w, sender_id=123), "sender-id-number"),
    case("MALFORMED", lambda w: request(w, message_template=["x"]), "template-list"),
    case("MALFORMED", lambda w: request(w, client_ref="r" * 65), "client-ref-65-chars"),
    case(
        # Legal JSON escapes, but not Unicode text: no store can keep it.
        "MALFORMED",
        lambda w: raw(w, b'{"client_ref": "\\ud800", "phone_number": "+447911123456"}'),
        "client-ref-lone-surrogate",
    ),
    case("SYSTEM_ERROR", gateway_refuses, "gateway-failure"),
    case("ALLOWLIST_INVALID", declared_bad_allowlist, "declared-token"),
    case("IP_NOT_ALLOWED", ip_not_allowed, "outside-allowlist"),
    case("TEMPLATE_NO_PLACEHOLDER", lambda w: request(w, message_template="Hi"), "no-placeholder"),
    case(
        "TEMPLATE_TOO_LONG",
        lambda w: request(w, message_template="a" * 155 + PLACEHOLDER),
        "gsm-161",
    ),
    case(
        "TEMPLATE_TOO_LONG",
        lambda w: request(w, message_template="ж" * 65 + PLACEHOLDER),
        "ucs2-71",
    ),
    case("RATE_LIMITED", sixth_send_to_one_phone, "phone-sends"),
    case("RATE_LIMITED", token_request_limit, "token-requests"),
    case("RATE_LIMITED", phone_failure_limit, "phone-failures"),
    case("DESTINATION_REFUSED", destination_not_allowed, "token-allowlist"),
    case("DESTINATION_REFUSED", service_destination_not_allowed, "service-allowlist"),
    case("BUDGET_EXHAUSTED", token_budget_spent, "token-budget"),
    case("BUDGET_EXHAUSTED", service_budget_spent, "service-budget"),
    case("FRAUD_HELD", range_held, "unconverted-range"),
    case(
        "UNSUPPORTED_MEDIA",
        lambda w: raw(w, json.dumps(body()), "text/plain"),
        "text-plain",
    ),
    case("UNSUPPORTED_MEDIA", lambda w: raw(w, json.dumps(body()), ""), "absent"),
]


@pytest.mark.parametrize(("name", "call"), CASES)
def test_engine_answers_catalogue_status(
    world: World, name: str, call: Callable[[World], Outcome]
) -> None:
    """The case gets its catalogue status, with the exact code, HTTP status and text."""
    outcome = call(world)
    assert outcome.status is getattr(catalogue, name)
    status = outcome.status
    assert (status.code, status.http, status.text) == LITERALS[name]
    assert bool(outcome.result) == (name == "SUCCESS")
    assert (outcome.retry_after is not None) == (name in WAITS)


@pytest.mark.parametrize(("name", "call"), [c for c in CASES if c.values[0] in WAITS])
def test_rate_limited_outcome_says_how_long_to_wait(
    world: World, name: str, call: Callable[[World], Outcome]
) -> None:
    """-70, -76 and -77 carry a positive retry_after no longer than their window."""
    outcome = call(world)
    assert outcome.retry_after is not None
    assert 1 <= outcome.retry_after <= 86400


def test_success_message_id_is_a_20_digit_decimal_string(world: World) -> None:
    """A sent code's message_id is a 20-digit decimal string."""
    outcome = request(world)
    message_id = outcome.result["message_id"]
    assert isinstance(message_id, str)
    assert re.fullmatch(r"[1-9][0-9]{19}", message_id)


def test_message_ids_are_unique(world: World) -> None:
    """Each sent code gets its own message_id."""
    ids = {
        request(world, client_ref=f"r{i}", phone_number=phone).result["message_id"]
        for i, phone in enumerate((UK, DE, FR))
    }
    assert len(ids) == 3


def test_every_engine_status_has_a_case() -> None:
    """Every catalogue status an engine call can reach is produced by a case above."""
    covered = {param.values[0] for param in CASES}
    reachable = {status.name for status in catalogue.CATALOGUE} - HTTP_ONLY
    assert covered == reachable


@pytest.mark.parametrize("name", sorted(LITERALS))
def test_catalogue_entry_has_its_literal_code_http_status_and_text(name: str) -> None:
    """Each catalogue constant carries exactly the documented code, HTTP status and text."""
    status = catalogue.BY_NAME[name]
    assert status is getattr(catalogue, name)
    assert status.name == name
    assert (status.code, status.http, status.text) == LITERALS[name]


def test_catalogue_holds_exactly_the_documented_statuses() -> None:
    """The catalogue has no entry beyond the documented ones, and each once."""
    names = [status.name for status in catalogue.CATALOGUE]
    assert sorted(names) == sorted(LITERALS)


def test_success_envelope_is_fortytwo_shaped(world: World) -> None:
    """A success renders as api_job_id, result_info and result.message_id."""
    outcome = request(world)
    assert outcome.envelope("job-1") == {
        "api_job_id": "job-1",
        "result_info": {"status_code": 0, "description": "Success"},
        "result": {"message_id": outcome.result["message_id"]},
    }


def test_error_envelope_has_no_result(world: World) -> None:
    """An error renders as api_job_id and result_info only."""
    outcome = world.engine.request_code(None, IP, body())
    assert outcome.envelope("job-2") == {
        "api_job_id": "job-2",
        "result_info": {"status_code": -51, "description": "Authorization token not provided."},
    }


# -- the check order: with several faults, the first in order wins ---------------------
def limited_phone_with_taken_ref(w: World) -> Outcome:
    for i in range(5):
        ok(request(w, client_ref=f"send-{i}"))
    assert request(w, client_ref="fresh").status is catalogue.RATE_LIMITED
    return request(w, client_ref="send-0")


def taken_ref_with_long_template(w: World) -> Outcome:
    ok(request(w))
    return request(w, message_template="a" * 155 + PLACEHOLDER)


def bad_allowlist_and_media_type(w: World) -> Outcome:
    w.engine.declare_token("from-config", "declared-secret", allowed_ips=["bogus"])
    return w.engine.request_code("declared-secret", IP, b"{", content_type="text/plain")


def foreign_ip_and_media_type(w: World) -> Outcome:
    issued = w.engine.create_token("office", allowed_ips=["10.0.0.0/8"])
    return w.engine.request_code(issued.token, "192.0.2.1", b"{", content_type="text/plain")


ORDER = [
    pytest.param(
        "TOKEN_MISSING",
        lambda w: w.engine.request_code(None, IP, b"{", content_type="text/plain"),
        id="51-before-415-and-64",
    ),
    pytest.param(
        "TOKEN_INVALID",
        lambda w: w.engine.request_code("unknown", IP, b"{", content_type="text/plain"),
        id="50-before-415-and-64",
    ),
    pytest.param("ALLOWLIST_INVALID", bad_allowlist_and_media_type, id="66-before-415"),
    pytest.param("IP_NOT_ALLOWED", foreign_ip_and_media_type, id="67-before-415"),
    pytest.param("UNSUPPORTED_MEDIA", lambda w: raw(w, b"{", "text/plain"), id="415-before-64"),
    pytest.param(
        "MALFORMED",
        lambda w: request(w, client_ref=MISSING, phone_number=447911123456),
        id="64-before-62",
    ),
    pytest.param(
        "CLIENT_REF_MISSING",
        lambda w: request(w, client_ref="", phone_number=MISSING),
        id="62-before-60",
    ),
    pytest.param(
        # -60 and -59 concern the same field; -57 is the next rule after them.
        "PHONE_MISSING",
        lambda w: request(w, phone_number=MISSING, code_length=5),
        id="60-before-57",
    ),
    pytest.param(
        "PHONE_INVALID",
        lambda w: request(w, phone_number="+442079460000", code_length=5),
        id="59-before-57",
    ),
    pytest.param(
        "CODE_TOO_SHORT",
        lambda w: request(w, code_length=5, callback_url="/relative"),
        id="57-before-61",
    ),
    pytest.param(
        "CODE_TOO_LONG",
        lambda w: request(w, code_length=21, callback_url="/relative"),
        id="58-before-61",
    ),
    pytest.param(
        "CALLBACK_INVALID",
        lambda w: request(w, callback_url="/relative", sender_id="ABCDEFGHIJKL"),
        id="61-before-63",
    ),
    pytest.param(
        "SENDER_ID_INVALID",
        lambda w: request(w, sender_id="ABCDEFGHIJKL", message_template="no placeholder"),
        id="63-before-68",
    ),
    pytest.param(
        "TEMPLATE_NO_PLACEHOLDER",
        lambda w: request(w, message_template="a" * 200),
        id="68-before-69",
    ),
    pytest.param("TEMPLATE_TOO_LONG", taken_ref_with_long_template, id="69-before-52"),
    pytest.param("CLIENT_REF_EXISTS", limited_phone_with_taken_ref, id="52-before-70"),
]


@pytest.mark.parametrize(("name", "call"), ORDER)
def test_first_failing_rule_wins(world: World, name: str, call: Callable[[World], Outcome]) -> None:
    """A request with several faults gets the status of the first one in the check order."""
    assert call(world).status is getattr(catalogue, name)


def test_rate_limit_refuses_before_the_gateway(world: World) -> None:
    """A rate-limited request never reaches the gateway."""
    for i in range(5):
        ok(request(world, client_ref=f"send-{i}"))
    attempts = world.gateway.attempts
    assert request(world, client_ref="send-5").status is catalogue.RATE_LIMITED
    assert world.gateway.attempts == attempts


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda e, t: e.request_code(t, IP, body()), id="request-code"),
        pytest.param(lambda e, t: e.validate_code(t, IP, "ref-1", "123456"), id="validate"),
        pytest.param(lambda e, t: e.ping(), id="ping"),
    ],
)
def test_store_unavailable_is_raised(
    make_engine: Callable[..., Engine], call: Callable[[Engine, str], object]
) -> None:
    """A store that cannot serve is a failure of the machine, raised to the adapter (which
    answers -78), never an outcome of the caller's request."""
    store = OutageStore()
    engine = make_engine(store)
    token = engine.create_token("outage").token
    store.down = True
    with pytest.raises(StoreUnavailable):
        call(engine, token)
