"""POST /1/delivery/{gateway}: a provider's delivery reports, read as the gateway's
HttpReports says, behind TFA_DLR_SECRET given as a query parameter or a header."""

from __future__ import annotations

import json
from typing import Any

import falcon.testing
import pytest

from tfa_engine import Engine, MemoryGateway, catalogue
from tfa_engine.adapters.falcon import create_app
from tfa_engine.gateways import HttpReports

SECRET = "dlr-s3cret"
STATUSES = {"delivered": "DELIVRD", "failed": "UNDELIV"}
NOT_FOUND = (catalogue.NOT_FOUND.http, catalogue.NOT_FOUND.as_result_info())
MALFORMED = (catalogue.MALFORMED.http, catalogue.MALFORMED.as_result_info())


@pytest.fixture
def client(engine: Engine) -> falcon.testing.TestClient:
    """The app of an engine with a delivery secret, taking the reports of ``memory`` (the
    gateway the engine sends through) as ``{"id", "status"}`` objects or forms."""
    configured = engine.with_config(dlr_secret=SECRET)
    reports = HttpReports("memory", "id", "status", STATUSES)
    return falcon.testing.TestClient(create_app(configured, gateway_reports={"memory": reports}))


def sent(client: falcon.testing.TestClient, token: str, gateway: MemoryGateway) -> str:
    """Request a code; the provider id the memory gateway took it under."""
    answer = client.simulate_post("/1/2fa", json={"client_ref": "r1",
                                                  "phone_number": "+447911123456"},
                                  headers={"Authorization": f"Token {token}"})
    assert answer.status_code == 201, answer.json
    return gateway.provider_id(answer.json["result"]["message_id"])


def status_of(result: falcon.testing.Result) -> tuple[int, Any]:
    """The HTTP status and result_info of an envelope answer."""
    return result.status_code, result.json["result_info"]


def test_secret_in_the_query_takes_a_json_report(client: Any, token: str,
                                                 gateway: MemoryGateway) -> None:
    """A JSON report with ?secret= answers accepted 1."""
    provider_id = sent(client, token, gateway)
    result = client.simulate_post(f"/1/delivery/memory?secret={SECRET}",
                                  json={"id": provider_id, "status": "delivered"})
    assert (result.status_code, result.json) == (200, {"accepted": 1})


def test_secret_in_the_header_takes_a_form_report(client: Any, token: str,
                                                  gateway: MemoryGateway) -> None:
    """A form report with X-TFA-DLR-Secret answers accepted 1."""
    provider_id = sent(client, token, gateway)
    result = client.simulate_post(
        "/1/delivery/memory", body=f"id={provider_id}&status=failed",
        headers={"X-TFA-DLR-Secret": SECRET,
                 "Content-Type": "application/x-www-form-urlencoded"})
    assert (result.status_code, result.json) == (200, {"accepted": 1})


@pytest.mark.parametrize("path", [
    pytest.param("/1/delivery/memory?secret=wrong", id="wrong-secret"),
    pytest.param("/1/delivery/memory", id="no-secret"),
    pytest.param(f"/1/delivery/other?secret={SECRET}", id="unknown-gateway"),
])
def test_wrong_secret_or_gateway_is_not_found(client: Any, path: str) -> None:
    """A wrong or missing secret, or a gateway without reports, is -71 404."""
    result = client.simulate_post(path, json={"id": "p", "status": "delivered"})
    assert status_of(result) == NOT_FOUND


def test_endpoint_is_closed_without_a_configured_secret(engine: Engine) -> None:
    """With no TFA_DLR_SECRET, even an empty secret is -71 404."""
    reports = HttpReports("memory", "id", "status", STATUSES)
    closed = falcon.testing.TestClient(create_app(engine, gateway_reports={"memory": reports}))
    result = closed.simulate_post("/1/delivery/memory?secret=",
                                  json={"id": "p", "status": "delivered"})
    assert status_of(result) == NOT_FOUND


@pytest.mark.parametrize("body", [
    pytest.param(b'{"id": "p",', id="broken-json"),
    pytest.param(b'{"other": 1}', id="no-fields"),
    pytest.param(b"[]", id="empty-array"),
])
def test_body_without_a_report_is_malformed(client: Any, body: bytes) -> None:
    """A body holding no report with an id and a status is -64 400."""
    result = client.simulate_post(f"/1/delivery/memory?secret={SECRET}", body=body,
                                  headers={"Content-Type": "application/json"})
    assert status_of(result) == MALFORMED


def test_status_the_map_does_not_name_is_left_out(client: Any, token: str,
                                                  gateway: MemoryGateway) -> None:
    """A step on the way (``sent``) answers accepted 0."""
    provider_id = sent(client, token, gateway)
    result = client.simulate_post(f"/1/delivery/memory?secret={SECRET}",
                                  body=json.dumps({"id": provider_id, "status": "sent"}),
                                  headers={"Content-Type": "application/json"})
    assert (result.status_code, result.json) == (200, {"accepted": 0})
