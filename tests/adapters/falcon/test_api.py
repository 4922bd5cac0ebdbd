"""The two API calls over HTTP and the wire format every answer shares."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest

from tfa_engine import catalogue
from tfa_engine.gateways import GatewayError

PHP_SDK_HEADERS = {"User-Agent": "Fortytwo - PHP - SDK", "Accept": "application/json"}


def test_request_code_answers_201_with_a_decimal_message_id(api: Any) -> None:
    """A good request is 201 Success with result.message_id as a decimal string."""
    result = api.request()
    assert result.status_code == 201
    assert result.json["result_info"] == {"status_code": 0, "description": "Success"}
    message_id = result.json["result"]["message_id"]
    assert isinstance(message_id, str) and message_id.isascii() and message_id.isdigit()


def test_request_code_sends_the_sms_to_the_e164_number(api: Any) -> None:
    """The gateway receives the code for the normalised phone number."""
    message_id = api.request(phone_number="00447911123456").json["result"]["message_id"]
    assert api.gateway.last_to("+447911123456").message_id == message_id


def test_validate_right_code_is_valid_200(api: Any) -> None:
    """The code from the SMS validates: 200 Valid, no result object."""
    _, code = api.send("login-1")
    result = api.validate("login-1", code)
    assert result.status_code == 200
    assert result.json["result_info"] == {"status_code": 0, "description": "Valid"}
    assert "result" not in result.json


def test_validate_twice_is_invalid(api: Any) -> None:
    """A code is single use: the second submission is -53."""
    _, code = api.send("login-1")
    api.validate("login-1", code)
    assert api.validate("login-1", code).json["result_info"]["status_code"] == -53


def test_validate_ignores_any_body(api: Any) -> None:
    """A body on the validate call, even one that is not JSON, changes nothing."""
    _, code = api.send("login-1")
    result = api.post(f"/1/2fa/login-1/{code}", body=b"\x00not json", content_type="text/plain")
    assert result.json["result_info"]["description"] == "Valid"


def test_validate_without_code_checks_the_token_first(api: Any) -> None:
    """/1/2fa/{client_ref} with a bad token is -50, not -56."""
    result = api.post("/1/2fa/ref-1", token="wrong")
    assert result.json["result_info"]["status_code"] == catalogue.TOKEN_INVALID.code


@pytest.mark.parametrize(
    "client_ref",
    [
        pytest.param("login 42", id="space"),
        pytest.param("kundennummer-müller", id="non-ascii"),
        pytest.param("a+b=c&d?e#f%g", id="reserved-characters"),
    ],
)
def test_client_ref_with_encoded_characters_round_trips(api: Any, client_ref: str) -> None:
    """A client_ref sent in JSON validates when percent-encoded in the path."""
    _, code = api.send(client_ref)
    result = api.validate(quote(client_ref, safe=""), code)
    assert result.json["result_info"]["description"] == "Valid"


def test_trailing_slash_on_request_route_requests_a_code(api: Any) -> None:
    """POST /1/2fa/ is the request call, not a validation of an empty client_ref."""
    result = api.post("/1/2fa/", json_body={"client_ref": "r", "phone_number": "+447911123456"})
    assert result.status_code == 201


def test_trailing_slash_after_the_code_still_validates(api: Any) -> None:
    """/1/2fa/{client_ref}/{code}/ validates like the form without the slash."""
    _, code = api.send("login-1")
    assert api.validate("login-1", code + "/").json["result_info"]["description"] == "Valid"


def test_api_job_id_is_a_fresh_uuid_on_every_response(api: Any) -> None:
    """Successes and errors alike carry a new UUID api_job_id."""
    answers = [
        api.request(),
        api.request(),
        api.request(token=None),
        api.post("/missing"),
        api.client.simulate_get("/1/2fa"),
    ]
    ids = [result.json["api_job_id"] for result in answers]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(job_id)) == job_id for job_id in ids)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda api: api.request(), id="success"),
        pytest.param(lambda api: api.request(token=None), id="engine-error"),
        pytest.param(lambda api: api.post("/missing"), id="not-found"),
        pytest.param(lambda api: api.client.simulate_put("/1/2fa"), id="method"),
    ],
)
def test_responses_are_json(api: Any, call: Any) -> None:
    """Every answer is application/json and never cacheable."""
    result = call(api)
    assert result.headers["content-type"] == "application/json"
    assert result.headers["cache-control"] == "no-store"
    assert "result_info" in result.json


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("application/json; charset=utf-8", id="charset"),
        pytest.param("application/json;charset=UTF-8", id="no-space-upper"),
        pytest.param("Application/JSON", id="case"),
    ],
)
def test_json_media_type_variants_are_accepted(api: Any, content_type: str) -> None:
    """application/json with parameters or in another case is JSON."""
    assert api.request(content_type=content_type).status_code == 201


def test_missing_content_type_is_415_after_auth(api: Any) -> None:
    """No Content-Type is -74 for a good token, but -51 without a token."""
    assert api.request(content_type=None).status_code == 415
    assert api.request(content_type=None, token=None).json["result_info"]["status_code"] == -51


def test_method_not_allowed_lists_allow(api: Any) -> None:
    """GET on /1/2fa is 405 with Allow: POST."""
    result = api.client.simulate_get("/1/2fa")
    assert (result.status_code, result.headers["allow"]) == (405, "POST")


def test_options_is_method_not_allowed_in_the_envelope(api: Any) -> None:
    """OPTIONS gets the -72 envelope instead of Falcon's empty 200."""
    result = api.client.simulate_options("/1/2fa/ref/123456")
    assert result.status_code == 405
    assert result.json["result_info"]["status_code"] == catalogue.METHOD_NOT_ALLOWED.code


def test_unknown_method_is_method_not_allowed(api: Any) -> None:
    """A method Falcon does not know is -72, not Falcon's bare 400."""
    result = api.wsgi("PURGE", "/1/2fa")
    assert (result.status_code, result.headers["allow"]) == (405, "POST")
    assert result.json["result_info"]["status_code"] == catalogue.METHOD_NOT_ALLOWED.code


def test_rate_limit_answers_retry_after(api: Any) -> None:
    """-70 carries Retry-After in whole seconds."""
    for index in range(api.engine.config.limit_phone_sends.count):
        api.send(f"burst-{index}")
    result = api.request("one-too-many")
    assert result.status_code == 429
    assert 0 < int(result.headers["retry-after"]) <= api.engine.config.limit_phone_sends.seconds


def test_gateway_failure_frees_the_client_ref(api: Any) -> None:
    """After a -65 from the gateway the same client_ref can be requested again."""
    api.gateway.failure = GatewayError("down")
    assert api.request("retry-me").status_code == 400
    api.gateway.failure = None
    assert api.request("retry-me").status_code == 201


def test_health_needs_no_token(api: Any) -> None:
    """GET /health is 200 {"status": "ok"} without an Authorization header."""
    result = api.client.simulate_get("/health")
    assert (result.status_code, result.json) == (200, {"status": "ok"})


def test_health_answers_head(api: Any) -> None:
    """HEAD /health is 200 too, for load balancers that probe with HEAD."""
    assert api.client.simulate_head("/health").status_code == 200


@pytest.mark.parametrize(
    "phone", [pytest.param("+447911123456", id="plus"), pytest.param("447911123456", id="bare")]
)
def test_fortytwo_php_sdk_request_shape(api: Any, phone: str) -> None:
    """The PHP SDK's request (its User-Agent, phone with or without +) gets a code."""
    body = {"phone_number": phone, "client_ref": "sdk-1", "code_length": 6, "code_type": "numeric"}
    result = api.post("/1/2fa", json_body=body, headers=PHP_SDK_HEADERS)
    assert result.status_code == 201
    assert api.gateway.last_to("+447911123456").message_id == result.json["result"]["message_id"]


def test_fortytwo_php_sdk_validate_shape(api: Any) -> None:
    """The PHP SDK validates with an empty JSON-typed body: 200 Valid."""
    _, code = api.send("sdk-1")
    result = api.post(f"/1/2fa/sdk-1/{code}", body=b"", headers=PHP_SDK_HEADERS)
    assert (result.status_code, result.json["result_info"]["description"]) == (200, "Valid")
