"""Failures outside the engine: body size, broken requests, unexpected exceptions."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from falcon.testing import TestClient

from tfa_engine import Engine, EngineConfig, MemoryStore, catalogue
from tfa_engine.adapters.falcon import create_app
from tfa_engine.gateways import Gateway, SmsMessage

MAX_BODY = 16 * 1024


class ExplodingGateway(Gateway):
    """A gateway with a bug: it raises something that is not a GatewayError."""

    def send(self, message: SmsMessage) -> None:
        raise RuntimeError("gateway bug")


def _body_of(size: int) -> bytes:
    prefix = b'{"client_ref": "big", "phone_number": "+447911123456", "pad": "'
    return prefix + b"x" * (size - len(prefix) - 2) + b'"}'


def test_body_at_the_limit_is_accepted(api: Any) -> None:
    """A body of exactly max_body bytes is read and processed."""
    assert api.post("/1/2fa", body=_body_of(MAX_BODY)).status_code == 201


def test_body_over_the_limit_is_413(api: Any) -> None:
    """One byte over max_body is -73 with HTTP 413."""
    result = api.post("/1/2fa", body=_body_of(MAX_BODY + 1))
    assert (result.status_code, result.json["result_info"]["status_code"]) == (413, -73)


def test_announced_large_body_is_refused_before_auth(api: Any) -> None:
    """The size is judged from Content-Length, before the token is looked at."""
    result = api.post("/1/2fa", body=_body_of(MAX_BODY + 1), token=None)
    assert result.status_code == 413


def test_size_limit_is_configurable(make_api: Any) -> None:
    """create_app(max_body=...) moves the limit."""
    api = make_api(max_body=100)
    assert api.post("/1/2fa", body=_body_of(101)).status_code == 413


def test_chunked_body_over_the_limit_is_413(api: Any) -> None:
    """Without Content-Length, a body longer than max_body is -73 all the same."""
    result = api.wsgi(
        "POST",
        "/1/2fa",
        body=_body_of(MAX_BODY + 1),
        headers={"Authorization": f"Token {api.token}", "Content-Type": "application/json"},
        environ={"wsgi.input_terminated": True},
        drop=("CONTENT_LENGTH",),
    )
    assert (result.status_code, result.json["result_info"]["status_code"]) == (413, -73)


def test_chunked_body_within_the_limit_is_read(api: Any) -> None:
    """Without Content-Length, a terminated input within max_body is the body."""
    result = api.wsgi(
        "POST",
        "/1/2fa",
        body=_body_of(200),
        headers={"Authorization": f"Token {api.token}", "Content-Type": "application/json"},
        environ={"wsgi.input_terminated": True},
        drop=("CONTENT_LENGTH",),
    )
    assert result.status_code == 201


def test_unterminated_input_without_length_is_not_read(api: Any) -> None:
    """No Content-Length and no wsgi.input_terminated: the body counts as empty (-64)."""
    result = api.wsgi(
        "POST",
        "/1/2fa",
        body=_body_of(200),
        headers={"Authorization": f"Token {api.token}", "Content-Type": "application/json"},
        drop=("CONTENT_LENGTH",),
    )
    assert result.json["result_info"]["status_code"] == catalogue.MALFORMED.code


def test_malformed_content_length_is_a_bad_request_in_the_envelope(api: Any) -> None:
    """Falcon's own 400 for a broken Content-Length comes out as -64."""
    result = api.wsgi("POST", "/1/2fa", environ={"CONTENT_LENGTH": "twelve"})
    assert (result.status_code, result.json["result_info"]["status_code"]) == (400, -64)
    assert "api_job_id" in result.json


def test_unexpected_exception_is_500_with_the_envelope() -> None:
    """A bug below the adapter answers -65 with HTTP 500, in the envelope."""
    engine = Engine(MemoryStore(), ExplodingGateway(), EngineConfig(argon2_profile="test"),
                    resolver=None)
    client_token = engine.create_token("t").token
    result = TestClient(create_app(engine)).simulate_post(
        "/1/2fa",
        json={"client_ref": "r", "phone_number": "+447911123456"},
        headers={"Authorization": f"Token {client_token}"},
    )
    assert result.status_code == 500
    assert result.json["result_info"] == catalogue.INTERNAL_ERROR.as_result_info()


def test_unexpected_exception_is_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """The traceback is logged on tfa.http; the token and the body are not."""
    engine = Engine(MemoryStore(), ExplodingGateway(), EngineConfig(argon2_profile="test"),
                    resolver=None)
    client_token = engine.create_token("t").token
    with caplog.at_level(logging.ERROR, logger="tfa.http"):
        TestClient(create_app(engine)).simulate_post(
            "/1/2fa",
            json={"client_ref": "secret-ref", "phone_number": "+447911123456"},
            headers={"Authorization": f"Token {client_token}"},
        )
    [record] = [r for r in caplog.records if r.name == "tfa.http"]
    logged = caplog.text
    assert "RuntimeError: gateway bug" in logged and record.exc_info is not None
    assert client_token not in logged
    assert "secret-ref" not in logged and "7911123456" not in logged


def test_validate_path_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A failure while validating logs the route template, never the submitted code."""

    class BrokenStore(MemoryStore):
        def find_code(self, token_id: str, client_ref: str) -> Any:
            raise RuntimeError("store down")

    engine = Engine(BrokenStore(), ExplodingGateway(), EngineConfig(argon2_profile="test"),
                    resolver=None)
    client_token = engine.create_token("t").token
    with caplog.at_level(logging.ERROR, logger="tfa.http"):
        result = TestClient(create_app(engine)).simulate_post(
            "/1/2fa/my-ref/987654", headers={"Authorization": f"Token {client_token}"}
        )
    assert result.status_code == 500
    assert "/1/2fa/{client_ref}/{code}" in caplog.text
    assert "987654" not in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"trusted_proxies": ["10.0.0.1", "proxy.local"]}, "proxy.local",
                     id="bad-proxy"),
        pytest.param({"forwarded_header": "X Forwarded"}, "X Forwarded", id="bad-header"),
        pytest.param({"max_body": -1}, "max_body", id="bad-size"),
    ],
)
def test_create_app_rejects_bad_options(engine: Engine, options: Any, message: str) -> None:
    """Bad options fail at construction with a message naming the culprit."""
    with pytest.raises(ValueError, match=message):
        create_app(engine, **options)
