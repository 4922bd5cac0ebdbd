"""Every catalogue status is reachable over HTTP with its exact code, text and HTTP status."""

from __future__ import annotations

from typing import Any

import pytest

from tfa_engine import RateLimit, Status, catalogue
from tfa_engine._access import token_digest
from tfa_engine.gateways import GatewayError

LANDLINE_UK = "+442079460000"
GERMAN_MOBILE = "+4915123456789"


def _duplicate_client_ref(api: Any) -> Any:
    api.send("dup")
    return api.request("dup")


def _expired(api: Any) -> Any:
    _, code = api.send("late")
    api.engine.clock.advance(301)
    return api.validate("late", code)


def _wrong_code(api: Any) -> Any:
    _, code = api.send("typo")
    return api.validate("typo", "000000" if code != "000000" else "111111")


def _bad_allowlist(api: Any) -> Any:
    api.engine.declare_token("from-config", "declared-token", allowed_ips=["not-an-ip"])
    return api.request(token="declared-token")


def _ip_not_allowed(api: Any) -> Any:
    fenced = api.engine.create_token("fenced", allowed_ips=["10.0.0.0/8"]).token
    return api.request(token=fenced, remote_addr="192.0.2.10")


def _rate_limited(api: Any) -> Any:
    limit = api.engine.config.limit_phone_sends.count
    for index in range(limit):
        api.send(f"burst-{index}")
    return api.request("burst-over")


def _destination_refused(api: Any) -> Any:
    germany_only = api.engine.create_token("germany", allowed_destinations=["DE"]).token
    return api.request(token=germany_only)


def _budget_exhausted(api: Any) -> Any:
    budgeted = api.engine.create_token("budget", sms_budget=RateLimit(1, 86400)).token
    api.send("first", token=budgeted)
    return api.request("second", token=budgeted, phone_number=GERMAN_MOBILE)


def _fraud_held(api: Any) -> Any:
    record = api.engine.store.token_by_digest(token_digest(api.token))
    api.engine.store.hold_range(record.id, "+44791", api.engine.clock() + 3600)
    return api.request("held")


def _store_down(api: Any) -> Any:
    api.engine.store.down = True
    return api.request()


def _gateway_refuses(api: Any) -> Any:
    api.gateway.failure = GatewayError("unreachable")
    return api.request()


CASES = [
    pytest.param(lambda api: api.request(token="not-a-token"), catalogue.TOKEN_INVALID, id="-50"),
    pytest.param(lambda api: api.request(token=None), catalogue.TOKEN_MISSING, id="-51"),
    pytest.param(_duplicate_client_ref, catalogue.CLIENT_REF_EXISTS, id="-52"),
    pytest.param(_expired, catalogue.INVALID, id="-53"),
    pytest.param(_wrong_code, catalogue.DECLINED, id="-54"),
    pytest.param(lambda api: api.validate("never-sent", "123456"), catalogue.CODE_NOT_FOUND,
                 id="-55"),
    pytest.param(lambda api: api.post("/1/2fa/ref-1"), catalogue.NO_CODE, id="-56-no-segment"),
    pytest.param(lambda api: api.post("/1/2fa/ref-1/"), catalogue.NO_CODE, id="-56-empty-segment"),
    pytest.param(lambda api: api.request(fields={"code_length": 5}), catalogue.CODE_TOO_SHORT,
                 id="-57"),
    pytest.param(lambda api: api.request(fields={"code_length": 21}), catalogue.CODE_TOO_LONG,
                 id="-58"),
    pytest.param(lambda api: api.request(phone_number=LANDLINE_UK), catalogue.PHONE_INVALID,
                 id="-59"),
    pytest.param(lambda api: api.request(phone_number=None), catalogue.PHONE_MISSING, id="-60"),
    pytest.param(lambda api: api.request(fields={"callback_url": "ftp://example.com/cb"}),
                 catalogue.CALLBACK_INVALID, id="-61"),
    pytest.param(lambda api: api.request(client_ref=None), catalogue.CLIENT_REF_MISSING,
                 id="-62"),
    pytest.param(lambda api: api.request(fields={"sender_id": "Much Too Long"}),
                 catalogue.SENDER_ID_INVALID, id="-63"),
    pytest.param(lambda api: api.post("/1/2fa", body=b'{"client_ref": "x",'),
                 catalogue.MALFORMED, id="-64-broken-json"),
    pytest.param(lambda api: api.post("/1/2fa", json_body=["client_ref", "x"]),
                 catalogue.MALFORMED, id="-64-not-an-object"),
    pytest.param(lambda api: api.post("/1/2fa", body=b""), catalogue.MALFORMED,
                 id="-64-empty-body"),
    pytest.param(lambda api: api.request(phone_number=447911123456), catalogue.MALFORMED,
                 id="-64-phone-as-number"),
    pytest.param(lambda api: api.request(fields={"code_length": True}), catalogue.MALFORMED,
                 id="-64-code-length-true"),
    pytest.param(lambda api: api.request(fields={"case_sensitive": "yes"}), catalogue.MALFORMED,
                 id="-64-case-sensitive-string"),
    pytest.param(lambda api: api.request(client_ref="r" * 65), catalogue.MALFORMED,
                 id="-64-client-ref-too-long"),
    pytest.param(_gateway_refuses, catalogue.SYSTEM_ERROR, id="-65-gateway"),
    pytest.param(_bad_allowlist, catalogue.ALLOWLIST_INVALID, id="-66"),
    pytest.param(_ip_not_allowed, catalogue.IP_NOT_ALLOWED, id="-67"),
    pytest.param(lambda api: api.request(fields={"message_template": "Your code"}),
                 catalogue.TEMPLATE_NO_PLACEHOLDER, id="-68"),
    pytest.param(lambda api: api.request(fields={"message_template": "x" * 160 + "{#TFA_CODE}"}),
                 catalogue.TEMPLATE_TOO_LONG, id="-69"),
    pytest.param(_rate_limited, catalogue.RATE_LIMITED, id="-70"),
    pytest.param(_destination_refused, catalogue.DESTINATION_REFUSED, id="-75"),
    pytest.param(_budget_exhausted, catalogue.BUDGET_EXHAUSTED, id="-76"),
    pytest.param(_fraud_held, catalogue.FRAUD_HELD, id="-77"),
    pytest.param(lambda api: api.post("/nowhere"), catalogue.NOT_FOUND, id="-71"),
    pytest.param(lambda api: api.client.simulate_get("/1/2fa"), catalogue.METHOD_NOT_ALLOWED,
                 id="-72"),
    pytest.param(lambda api: api.post("/1/2fa", body=b" " * (16 * 1024 + 1)),
                 catalogue.TOO_LARGE, id="-73"),
    pytest.param(lambda api: api.request(content_type="text/plain"),
                 catalogue.UNSUPPORTED_MEDIA, id="-74"),
    pytest.param(_store_down, catalogue.UNAVAILABLE, id="-78"),
]


@pytest.mark.parametrize(("scenario", "expected"), CASES)
def test_status_over_http(api: Any, scenario: Any, expected: Status) -> None:
    """The scenario answers the status's HTTP status, status_code and exact description."""
    result = scenario(api)
    assert (result.status_code, result.json["result_info"]) == (
        expected.http,
        {"status_code": expected.code, "description": expected.text},
    )


def test_every_status_is_covered() -> None:
    """The table above reaches every catalogue entry except the two successes and -65/500."""
    covered = {case.values[1] for case in CASES}
    untested_here = {catalogue.SUCCESS, catalogue.VALID, catalogue.INTERNAL_ERROR}
    assert set(catalogue.CATALOGUE) - untested_here <= covered
