"""MediariverGateway over real HTTP against the simulator served by waitress on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import urllib3

from tfa_engine.adapters.gateway_sim import MediariverSimulator
from tfa_engine.gateways import GatewayError, SmsMessage
from tfa_engine.gateways.mediariver import MediariverError

pytestmark = pytest.mark.network

UK = "+447911123456"
MESSAGE = SmsMessage("10000000000000000001", UK, "TFA", "Your code: 493027")


def fails(gateway: Any, message: SmsMessage = MESSAGE) -> MediariverError:
    """Send and return the error raised."""
    with pytest.raises(MediariverError) as raised:
        gateway.send(message)
    return raised.value


def test_message_is_queued_in_one_attempt(make_gateway: Any, sim: MediariverSimulator) -> None:
    """Success: one request; the gateway saw the number with +, quality H, sender, our id."""
    gateway = make_gateway()
    gateway.send(MESSAGE)
    assert gateway.attempts_made == 1
    (entry,) = sim.messages
    assert (entry["recipient"], entry["quality"], entry["sender"]) == (UK, "H", "TFA")
    assert entry["customer_uuid"] == MESSAGE.message_id
    assert entry["message"] == MESSAGE.text


def test_inspection_endpoint_over_http(make_gateway: Any, sim_url: str) -> None:
    """GET /messages on the served simulator lists the message sent."""
    make_gateway().send(MESSAGE)
    with urllib3.PoolManager() as client:
        listed = client.request("GET", f"{sim_url}/messages", retries=False)
    assert [entry["recipient"] for entry in json.loads(listed.data)] == [UK]


def test_400_fails_after_one_attempt(make_gateway: Any, sim: MediariverSimulator) -> None:
    """A number without + is refused by the gateway: no retry, the location in the reason."""
    gateway = make_gateway()
    error = fails(gateway, SmsMessage("1", "447911123456", "TFA", "Your code: 493027"))
    assert (error.attempts, error.status, gateway.attempts_made) == (1, 400, 1)
    assert "/messages/0/recipients/0" in error.reason
    assert "493027" not in error.reason
    assert sim.messages == []


def test_rejected_credentials_fail_after_one_attempt(
    make_gateway: Any, sim: MediariverSimulator
) -> None:
    """401 Credentials rejected: one attempt."""
    sim.password = "rotated"
    gateway = make_gateway()
    error = fails(gateway)
    assert (error.attempts, error.status, gateway.attempts_made) == (1, 401, 1)
    assert "Credentials rejected" in error.reason


def test_missing_credentials_fail_after_one_attempt(
    make_gateway: Any, sim: MediariverSimulator, serve: Any
) -> None:
    """401 No credentials provided (a proxy dropped the header): one attempt."""

    def header_eating_proxy(environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop("HTTP_AUTHORIZATION", None)
        return sim(environ, start_response)

    gateway = make_gateway(serve(header_eating_proxy))
    error = fails(gateway)
    assert (error.attempts, error.status) == (1, 401)
    assert "No credentials provided" in error.reason


def test_429_is_waited_out_and_retried(make_gateway: Any, sim: MediariverSimulator) -> None:
    """A 429 whose wait fits the deadline: waited (in ms), retried, queued on attempt 2."""
    sim.faults.force_429, sim.faults.retry_after_ms = 1, 50
    waits: list[float] = []
    gateway = make_gateway(sleep=waits.append)
    gateway.send(MESSAGE)
    assert (gateway.attempts_made, waits) == (2, [0.05])
    assert len(sim.messages) == 1


def test_429_beyond_the_deadline_is_not_retried(
    make_gateway: Any, sim: MediariverSimulator
) -> None:
    """A 429 asking for longer than the deadline: GatewayError with retry_after, no retry."""
    sim.faults.force_429, sim.faults.retry_after_ms = 5, 60_000
    error = fails(make_gateway(deadline=2.0))
    assert (error.retry_after, error.attempts) == (60.0, 1)


def test_real_rate_limit_reports_the_wait(make_gateway: Any, sim: MediariverSimulator) -> None:
    """Over the simulator's limit, the error carries the rest of its window."""
    sim.rate_limit = (1, 60.0)
    gateway = make_gateway()
    gateway.send(MESSAGE)
    error = fails(gateway)
    assert error.retry_after is not None and 59.0 < error.retry_after <= 60.0


def test_two_500s_then_success(make_gateway: Any, sim: MediariverSimulator) -> None:
    """500 twice, then OK: three attempts, one message queued."""
    sim.faults.fail_status, sim.faults.fail_next = 500, 2
    gateway = make_gateway(sleep=lambda seconds: None)
    gateway.send(MESSAGE)
    assert gateway.attempts_made == 3
    assert len(sim.messages) == 1


def test_persistent_503_gives_up_after_max_attempts(
    make_gateway: Any, sim: MediariverSimulator
) -> None:
    """503 on every attempt: max_attempts requests, then GatewayError."""
    sim.faults.fail_status, sim.faults.fail_next = 503, 100
    gateway = make_gateway(max_attempts=4, sleep=lambda seconds: None)
    error = fails(gateway)
    assert (error.attempts, error.status, gateway.attempts_made) == (4, 503, 4)
    assert sim.faults.fail_next == 96


def test_faults_set_over_http_reach_the_gateway(make_gateway: Any, sim_url: str) -> None:
    """POST /_faults on the served simulator makes the next send fail with that status."""
    with urllib3.PoolManager() as client:
        client.request("POST", f"{sim_url}/_faults", json={"fail_status": 502, "fail_next": 9})
    error = fails(make_gateway(sleep=lambda seconds: None))
    assert error.status == 502


def test_hanging_gateway_fails_within_the_deadline(
    make_gateway: Any, sim: MediariverSimulator
) -> None:
    """Every attempt times out: GatewayError, and the deadline is kept."""
    sim.faults.hang = 30.0
    # Unshrunk, three 0.3 s time-outs and the waits would take 1.05 s.
    gateway = make_gateway(deadline=0.7, read_timeout=0.3, backoff=0.05)
    started = time.monotonic()
    error = fails(gateway)
    elapsed = time.monotonic() - started
    assert elapsed < 0.7 + 0.25
    assert error.status is None
    assert "Timeout" in error.reason
    assert sim.messages == []


def test_slow_gateway_within_the_read_timeout_succeeds(
    make_gateway: Any, sim: MediariverSimulator
) -> None:
    """Latency below the read time-out is only slow, not a failure."""
    sim.faults.latency = 0.05
    gateway = make_gateway()
    gateway.send(MESSAGE)
    assert gateway.attempts_made == 1


def test_connection_refused(make_gateway: Any, free_port: int) -> None:
    """Nothing listening: every attempt refused, then GatewayError."""
    gateway = make_gateway(f"http://127.0.0.1:{free_port}", sleep=lambda seconds: None)
    with pytest.raises(GatewayError) as raised:
        gateway.send(MESSAGE)
    assert gateway.attempts_made == 3
    assert "NewConnectionError" in raised.value.reason


def test_one_gateway_serves_many_threads(make_gateway: Any, sim: MediariverSimulator) -> None:
    """Concurrent sends through one gateway (one pool) are all queued."""
    gateway = make_gateway(deadline=5.0, read_timeout=2.0)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for k in range(5):
                gateway.send(SmsMessage(f"{n}-{k}", UK, "TFA", "Your code: 000000"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert gateway.attempts_made == 30
    assert len({entry["customer_uuid"] for entry in sim.messages}) == 30


def test_delivery_reports_reach_a_real_receiver(serve: Any) -> None:
    """With dlr_url set, the simulator POSTs each report as JSON to it over HTTP."""
    received: list[Any] = []

    def receiver(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        received.append((environ["PATH_INFO"], json.loads(environ["wsgi.input"].read(length))))
        start_response("204 No Content", [])
        return []

    sim = MediariverSimulator(dlr_url=serve(receiver) + "/1/dlr/s3cret")
    gateway_url = serve(sim)
    with urllib3.PoolManager() as client:
        body = {"messages": [{"recipients": [UK], "quality": "S", "message": "hi", "uuid": "m1"}]}
        auth = urllib3.make_headers(basic_auth="sim:sim")
        reply = client.request("POST", f"{gateway_url}/v2/send", json=body, headers=auth)
    assert reply.status == 200
    assert sim.drain(5)
    ((path, report),) = received
    assert path == "/1/dlr/s3cret"
    assert (report["msisdn"], report["uuid"], report["delivery_status"]) == (UK, "m1", "DELIVRD")
