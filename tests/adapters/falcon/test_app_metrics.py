"""The SMS counters of /metrics under the middleware (``metrics=True``): each app counts the
SMS of its own requests, sent or refused, and leaves the engine as it is."""

from __future__ import annotations

import falcon.testing
from prometheus_client.parser import text_string_to_metric_families

from tfa_engine import Engine, MemoryGateway
from tfa_engine.adapters.wsgi_middleware import TwoFactorMiddleware
from tfa_engine.gateways import GatewayError

UK = "+447911123456"


def sms_counts(client: falcon.testing.TestClient) -> dict[str, float]:
    """The SMS samples of the app's /metrics: {"sent": n, "failed": n} (absent: 0)."""
    text = client.simulate_get("/tfa/metrics").text
    counts = {"sent": 0.0, "failed": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("tfa_sms_sent_total", "tfa_sms_failed_total"):
                assert sample.labels == {"gateway": "memory"}
                counts[sample.name.split("_")[2]] += sample.value
    return counts


def request_code(client: falcon.testing.TestClient, token: str, ref: str) -> int:
    """POST /tfa/1/2fa; the status_code answered."""
    answer = client.simulate_post(
        "/tfa/1/2fa", json={"client_ref": ref, "phone_number": UK},
        headers={"Authorization": f"Token {token}"},
    )
    status_code: int = answer.json["result_info"]["status_code"]
    return status_code


def test_two_middlewares_on_one_engine_each_count_their_own_sms(
    engine: Engine, token: str
) -> None:
    """Two middlewares with metrics=True on one engine: an SMS sent through the second is
    counted by the second's /metrics, not by the first's."""
    first = falcon.testing.TestClient(TwoFactorMiddleware(lambda e, s: [], engine, metrics=True))
    second = falcon.testing.TestClient(TwoFactorMiddleware(lambda e, s: [], engine, metrics=True))
    assert request_code(second, token, "via-second") == 0
    assert sms_counts(second) == {"sent": 1.0, "failed": 0.0}
    assert sms_counts(first) == {"sent": 0.0, "failed": 0.0}


def test_middleware_counts_an_sms_the_gateway_refused(
    engine: Engine, token: str, gateway: MemoryGateway
) -> None:
    """With metrics=True, a request-code the gateway refuses (-65) counts one failed SMS."""
    client = falcon.testing.TestClient(TwoFactorMiddleware(lambda e, s: [], engine, metrics=True))
    gateway.failure = GatewayError("refused")
    assert request_code(client, token, "refused") == -65
    assert sms_counts(client) == {"sent": 0.0, "failed": 1.0}


def test_middleware_counts_delivery_reports_by_gateway_and_status(
    engine: Engine, token: str, gateway: MemoryGateway
) -> None:
    """With metrics=True, a delivery report stored for an SMS of the memory gateway shows
    as tfa_sms_delivery_reports_total{gateway="memory", status="UNDELIV"} 1."""
    client = falcon.testing.TestClient(TwoFactorMiddleware(lambda e, s: [], engine, metrics=True))
    assert request_code(client, token, "reported") == 0
    engine.record_delivery_reports({"msisdn": UK[1:], "delivery_status": "UNDELIV",
                                    "delivery_date": "2026-12-07",
                                    "uuid": gateway.last_to(UK).message_id})
    text = client.simulate_get("/tfa/metrics").text
    samples = [(s.labels, s.value) for f in text_string_to_metric_families(text)
               for s in f.samples if s.name == "tfa_sms_delivery_reports_total"]
    assert samples == [({"gateway": "memory", "status": "UNDELIV"}, 1.0)]
