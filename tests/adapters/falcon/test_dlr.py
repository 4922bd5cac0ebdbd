"""POST /1/dlr/{secret}: gateway delivery reports, and the callbacks they lead to."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

from tfa_engine import Engine, EngineConfig, MemoryGateway, MemoryStore, catalogue
from tfa_engine._callbacks import SIGNATURE_HEADER
from tfa_engine.adapters.falcon import create_app

SECRET = "dlr-s3cret"
CALLBACK_KEY = "k" * 32
PUBLIC_IP = "93.184.216.34"
CALLBACK_URL = "https://client.example/cb"
DELIVERY_DATE = "2024-05-01 12:00:00"


class RecordingTransport:
    """Stands in for the network: records each callback POST and answers 200."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, scheme: str, port: int, address: str, host: str, target: str,
                 body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.calls.append({"address": address, "host": host, "target": target,
                           "body": body, "headers": headers})
        return 200

    def bodies(self) -> list[dict[str, Any]]:
        """The decoded JSON of every callback sent so far."""
        return [json.loads(call["body"]) for call in self.calls]


@pytest.fixture
def transport() -> RecordingTransport:
    """The callbacks' stand-in network."""
    return RecordingTransport()


@pytest.fixture
def engine(
    gateway: MemoryGateway, clock: Any, transport: RecordingTransport
) -> Iterator[Engine]:
    """An engine with a delivery-report secret and a callback key, whose callbacks go to
    ``transport`` and whose resolver says every host is a public address."""
    config = EngineConfig(argon2_profile="test", dlr_secret=SECRET, callback_key=CALLBACK_KEY)
    built = Engine(
        MemoryStore(), gateway, config, clock=clock, resolver=lambda host, port: [PUBLIC_IP]
    )
    built.callbacks.transport = transport
    try:
        yield built
    finally:
        built.close()


def report(message_id: str, status: str = "DELIVRD") -> dict[str, str]:
    """One mediariver delivery report."""
    return {"msisdn": "447911123456", "delivery_status": status,
            "delivery_date": DELIVERY_DATE, "uuid": message_id}


def post_reports(api: Any, payload: Any, secret: str = SECRET) -> falcon.testing.Result:
    """POST reports as the gateway does: no token; raw bytes or a JSON value."""
    result: falcon.testing.Result
    if isinstance(payload, bytes):
        result = api.post(f"/1/dlr/{secret}", body=payload, token=None)
    else:
        result = api.post(f"/1/dlr/{secret}", json_body=payload, token=None)
    return result


def send_with_callback(api: Any, client_ref: str = "ref-1") -> falcon.testing.Result:
    """Request a code with a callback URL; the 201 answer."""
    result: falcon.testing.Result = api.request(client_ref, fields={"callback_url": CALLBACK_URL})
    assert result.status_code == 201, result.json
    return result


def status_of(result: falcon.testing.Result) -> tuple[int, Any]:
    """The HTTP status and result_info of an envelope answer."""
    return result.status_code, result.json["result_info"]


NOT_FOUND = (catalogue.NOT_FOUND.http, catalogue.NOT_FOUND.as_result_info())
MALFORMED = (catalogue.MALFORMED.http, catalogue.MALFORMED.as_result_info())


def test_single_report_is_accepted(api: Any) -> None:
    """A report for a sent message answers 200 with accepted 1."""
    message_id = send_with_callback(api).json["result"]["message_id"]
    result = post_reports(api, report(message_id))
    assert (result.status_code, result.json) == (200, {"accepted": 1})


def test_batched_reports_are_counted(api: Any) -> None:
    """An array of reports answers how many of them changed a message."""
    first = send_with_callback(api, "ref-1").json["result"]["message_id"]
    second = send_with_callback(api, "ref-2").json["result"]["message_id"]
    result = post_reports(api, [report(first), report(second, "UNDELIV"), report("404")])
    assert (result.status_code, result.json) == (200, {"accepted": 2})


def test_repeated_report_is_not_counted_again(api: Any) -> None:
    """The same report sent twice is accepted once, then answered 200 with accepted 0."""
    message_id = send_with_callback(api).json["result"]["message_id"]
    post_reports(api, report(message_id))
    result = post_reports(api, report(message_id))
    assert (result.status_code, result.json) == (200, {"accepted": 0})


def test_unknown_message_is_ignored(api: Any) -> None:
    """A report for a message id never sent answers 200 with accepted 0."""
    result = post_reports(api, report("12345678901234567890"))
    assert (result.status_code, result.json) == (200, {"accepted": 0})


@pytest.mark.parametrize("secret", ["wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
def test_wrong_secret_is_not_found(api: Any, secret: str) -> None:
    """A wrong secret answers -71 with HTTP 404, like a path that does not exist."""
    result = post_reports(api, report("12345678901234567890"), secret=secret)
    assert status_of(result) == NOT_FOUND


def test_endpoint_is_closed_without_a_configured_secret(api: Any) -> None:
    """With no dlr_secret configured, every secret answers -71 with HTTP 404."""
    closed = falcon.testing.TestClient(create_app(api.engine.with_config(dlr_secret=None)))
    result = closed.simulate_post(f"/1/dlr/{SECRET}", json=report("12345678901234567890"))
    assert status_of(result) == NOT_FOUND


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"uuid": "1",', id="broken-json"),
        pytest.param(b"", id="empty-body"),
        pytest.param(b'"DELIVRD"', id="a-string"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b"[1]", id="array-of-numbers"),
        pytest.param(b'{"uuid": 1, "delivery_status": "DELIVRD"}', id="uuid-a-number"),
        pytest.param(b'{"uuid": "1"}', id="no-status"),
    ],
)
def test_malformed_reports_are_refused(api: Any, payload: bytes) -> None:
    """A body that is not a report or an array of reports answers -64 with HTTP 400."""
    assert status_of(post_reports(api, payload)) == MALFORMED


def test_callbacks_repeat_the_api_job_id_of_the_request(
    api: Any, transport: RecordingTransport
) -> None:
    """After a report, INTERNAL ACCEPTD and SMS DELIVRD callbacks carry the 201's api_job_id."""
    answer = send_with_callback(api).json
    message_id = answer["result"]["message_id"]
    post_reports(api, report(message_id))
    api.engine.callbacks.run_once()
    sent = sorted(
        (body["api_job_id"], data["type"], data["status"], data["message_id"])
        for body in transport.bodies()
        for data in body["data"]
    )
    assert sent == [
        (answer["api_job_id"], "INTERNAL", "ACCEPTD", message_id),
        (answer["api_job_id"], "SMS", "DELIVRD", message_id),
    ]


def test_callbacks_go_to_the_callback_url(api: Any, transport: RecordingTransport) -> None:
    """Callbacks are posted to the callback URL's host and path, at the resolved address."""
    post_reports(api, report(send_with_callback(api).json["result"]["message_id"]))
    api.engine.callbacks.run_once()
    assert {(call["address"], call["host"], call["target"]) for call in transport.calls} == {
        (PUBLIC_IP, "client.example", "/cb")}


def test_callbacks_are_signed_with_the_token_secret(
    api: Any, transport: RecordingTransport
) -> None:
    """X-TFA-Signature is the hex HMAC-SHA256 of the body under the token's secret."""
    post_reports(api, report(send_with_callback(api).json["result"]["message_id"]))
    api.engine.callbacks.run_once()
    (token,) = api.engine.list_tokens()
    secret = api.engine.callbacks.signer.secret_for(token.id).encode()
    assert len(transport.calls) == 2
    for call in transport.calls:
        expected = hmac.new(secret, call["body"], hashlib.sha256).hexdigest()
        assert call["headers"][SIGNATURE_HEADER] == expected


@pytest.mark.parametrize(
    ("reported", "called_back"),
    [
        pytest.param("UNDELIV", "UNDELIV", id="undelivered"),
        pytest.param("rejectd", "REJECTD", id="lower-case"),
        pytest.param("EXPIRED", "EXPIRED", id="expired"),
        pytest.param("BOUNCED", "UNKNOWN", id="unheard-of"),
    ],
)
def test_sms_callback_carries_the_reported_status(
    api: Any, transport: RecordingTransport, reported: str, called_back: str
) -> None:
    """The SMS callback's status is the report's, upper-cased; an unknown one is UNKNOWN."""
    post_reports(api, report(send_with_callback(api).json["result"]["message_id"], reported))
    api.engine.callbacks.run_once()
    statuses = {data["type"]: data["status"] for body in transport.bodies()
                for data in body["data"]}
    assert statuses["SMS"] == called_back


def test_report_without_callback_url_sends_nothing(
    api: Any, transport: RecordingTransport
) -> None:
    """A report for a code requested without callback_url is accepted but calls nobody."""
    message_id, _ = api.send("quiet")
    result = post_reports(api, report(message_id))
    api.engine.callbacks.run_once()
    assert (result.json, transport.calls) == ({"accepted": 1}, [])
