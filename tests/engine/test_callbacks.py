"""Callbacks: bodies, signatures, the outbox dispatcher, SSRF refusal and durability."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import loopback
import pytest
from fake_clock import START, FakeClock

from tfa_engine import Engine, EngineConfig, MemoryGateway, SQLiteStore, StoreUnavailable, catalogue
from tfa_engine._callbacks import (
    SIGNATURE_HEADER,
    CallbackSigner,
    RetryPolicy,
    callback_body,
    verify_signature,
)
from tfa_engine.store import NewCode

KEY = "k" * 32
PUBLIC_IP = "93.184.216.34"
PHONE = "+447911123456"


class Listener:
    """A loopback HTTP server recording every request; answers from a script."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                listener.requests.append(
                    {"path": self.path, "headers": dict(self.headers),
                     "body": self.rfile.read(length)}
                )
                status, headers = listener.answers.pop(0) if listener.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                listener.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook?x=1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(loopback.POLL_INTERVAL,), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A callback receiver on 127.0.0.1, stopped after the test."""
    server = Listener()
    try:
        yield server
    finally:
        server.close()


def make_engine(
    store: Any, clock: FakeClock, *, allow_private: bool = False, resolver: Any = None
) -> Engine:
    config = EngineConfig(
        argon2_profile="test",
        callback_key=KEY,
        callback_allow_private=allow_private,
        dlr_secret="dlr-secret",
    )
    return Engine(
        store, MemoryGateway(), config, clock=clock,
        resolver=resolver or (lambda host, port: [PUBLIC_IP]),
    )


@pytest.fixture
def store(sqlite_store: SQLiteStore) -> SQLiteStore:
    """A real SQLite file (these tests read the outbox table)."""
    return sqlite_store


def send(engine: Engine, token: str, client_ref: str, callback_url: str) -> str:
    outcome = engine.request_code(
        token, None,
        {"client_ref": client_ref, "phone_number": PHONE, "callback_url": callback_url},
    )
    assert outcome.status is catalogue.SUCCESS
    return str(outcome.result["message_id"])


def expected_signature(token_id: str, body: bytes) -> str:
    secret = hmac.new(KEY.encode(), b"callback:" + token_id.encode(), hashlib.sha256)
    return hmac.new(secret.hexdigest().encode(), body, hashlib.sha256).hexdigest()


class RecordingTransport:
    """Stands in for the network where a test needs a public address."""

    def __init__(self, status: int = 200) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status

    def __call__(self, scheme: str, port: int, address: str, host: str, target: str,
                 body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.calls.append({"scheme": scheme, "port": port, "address": address, "host": host,
                           "target": target, "body": body, "headers": headers})
        return self.status


def test_callback_body_has_fortytwo_fields() -> None:
    """Times are in ms and µs, ``to`` is digits only, ids come from the request."""
    code = NewCode("12345678901234567890", "tok", "ref-1", PHONE, "h", 6, False, "Shop",
                   "https://x.example/", START, START + 300, "job-1")
    body = json.loads(callback_body(code, "SMS", "DELIVRD", 1443165174.145))
    assert body == {
        "api_job_id": "job-1",
        "data": [{
            "type": "SMS", "message_id": "12345678901234567890", "status": "DELIVRD",
            "timestamp": 1443165174145, "micro_timestamp": 1443165174145000,
            "to": "447911123456", "sms_from": "Shop", "client_message_id": "ref-1",
            "error_code": 0,
        }],
    }


def test_signing_secret_differs_per_token_and_is_stable() -> None:
    """Each token has its own secret, the same on every call."""
    signer = CallbackSigner(KEY)
    assert signer.secret_for("tok_a") == signer.secret_for("tok_a")
    assert signer.secret_for("tok_a") != signer.secret_for("tok_b")
    assert signer.sign("tok_a", b"{}") == expected_signature("tok_a", b"{}")


def test_short_signing_key_is_refused() -> None:
    """A key under 16 bytes is a configuration error."""
    with pytest.raises(ValueError, match="16 bytes"):
        CallbackSigner("short")


@pytest.mark.parametrize(
    ("failures", "delay"),
    [pytest.param(1, 2.0, id="first"), pytest.param(3, 8.0, id="third"),
     pytest.param(7, 128.0, id="seventh"), pytest.param(8, None, id="gives-up")],
)
def test_retry_policy_backs_off_exponentially(failures: int, delay: float | None) -> None:
    """Delays double from 2 s and stop after 8 failures."""
    assert RetryPolicy().next_delay(failures) == delay


def test_retry_policy_caps_the_delay() -> None:
    """No delay exceeds the cap."""
    assert RetryPolicy(max_attempts=50, cap=600).next_delay(20) == 600


def recording_engine(store: Any, clock: FakeClock) -> tuple[Engine, RecordingTransport]:
    """An engine (:func:`make_engine`) whose callbacks go to a recording transport."""
    engine = make_engine(store, clock)
    transport = RecordingTransport()
    engine.callbacks.transport = transport
    return engine, transport


def test_internal_callback_is_signed_and_sent_to_the_checked_address(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """Accepting a code queues an INTERNAL callback POSTed to the resolved public IP."""
    engine, transport = recording_engine(store, clock)
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "ref-1", "https://client.example:8443/cb?a=b")
    assert engine.callbacks.run_once() == 1
    (call,) = transport.calls
    assert (call["scheme"], call["address"], call["host"], call["port"], call["target"]) == (
        "https", PUBLIC_IP, "client.example", 8443, "/cb?a=b")
    assert call["headers"]["Host"] == "client.example:8443"
    assert call["headers"][SIGNATURE_HEADER] == expected_signature(
        issued.record.id, call["body"])
    data = json.loads(call["body"])["data"][0]
    assert (data["type"], data["status"], data["message_id"]) == (
        "INTERNAL", "ACCEPTD", message_id)
    assert store.callback_states(message_id) == [("delivered", 0)]


def test_callback_repeats_the_api_job_id_of_the_response(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """The callback's api_job_id is the one the request-code response carried."""
    engine, transport = recording_engine(store, clock)
    issued = engine.create_token("shop")
    outcome = engine.request_code(issued.token, None, {
        "client_ref": "r", "phone_number": PHONE, "callback_url": "https://client.example/"})
    engine.callbacks.run_once()
    assert json.loads(transport.calls[0]["body"])["api_job_id"] == outcome.api_job_id
    assert outcome.envelope()["api_job_id"] == outcome.api_job_id


def test_no_callback_without_callback_url(store: SQLiteStore, clock: FakeClock) -> None:
    """A request without callback_url queues nothing."""
    engine = make_engine(store, clock)
    issued = engine.create_token("shop")
    engine.request_code(issued.token, None, {"client_ref": "r", "phone_number": PHONE})
    assert engine.callbacks.run_once() == 0


def test_delivery_report_queues_an_sms_callback(store: SQLiteStore, clock: FakeClock) -> None:
    """A report with a known uuid gives an SMS callback with its status."""
    engine, transport = recording_engine(store, clock)
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "r", "https://client.example/")
    report = {"msisdn": "447911123456", "delivery_status": "UNDELIV",
              "delivery_date": "2026-11-23 10:00:00", "uuid": message_id}
    assert engine.record_delivery_reports(json.dumps([report]).encode()) == 1
    engine.callbacks.run_once()
    statuses = [json.loads(c["body"])["data"][0]["status"] for c in transport.calls]
    assert sorted(statuses) == ["ACCEPTD", "UNDELIV"]


def test_duplicate_and_unknown_reports_are_harmless(store: SQLiteStore, clock: FakeClock) -> None:
    """A repeated report and an unknown uuid change nothing and queue nothing."""
    engine = make_engine(store, clock)
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "r", "https://client.example/")
    report = {"delivery_status": "DELIVRD", "uuid": message_id}
    assert engine.record_delivery_reports(report) == 1
    assert engine.record_delivery_reports([report, {"delivery_status": "DELIVRD",
                                                    "uuid": "nope"}]) == 0
    assert store.callback_states(message_id) == [("pending", 0), ("pending", 0)]


def test_unknown_delivery_status_is_reported_as_unknown(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """A status outside the SMPP set is passed on as UNKNOWN."""
    engine = make_engine(store, clock)
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "r", "https://client.example/")
    engine.record_delivery_reports({"delivery_status": "WEIRD", "uuid": message_id})
    record = store.find_code(issued.record.id, "r")
    assert record is not None and record.delivery_status == "UNKNOWN"


@pytest.mark.parametrize(
    "payload",
    [pytest.param(b"not json", id="not-json"), pytest.param([], id="empty-array"),
     pytest.param({"uuid": 5, "delivery_status": "DELIVRD"}, id="uuid-not-string"),
     pytest.param({"uuid": "x"}, id="no-status"), pytest.param([1], id="not-objects")],
)
def test_malformed_delivery_reports_are_refused(
    store: SQLiteStore, clock: FakeClock, payload: Any
) -> None:
    """A payload that is not a report (or array of them) raises ValueError."""
    with pytest.raises(ValueError):
        make_engine(store, clock).record_delivery_reports(payload)


@pytest.mark.parametrize(
    ("configured", "given", "ok"),
    [pytest.param("dlr-secret", "dlr-secret", True, id="match"),
     pytest.param("dlr-secret", "dlr-secreT", False, id="mismatch"),
     pytest.param(None, "", False, id="unset-closes-endpoint")],
)
def test_dlr_secret_matching(
    clock: FakeClock, configured: str | None, given: str, ok: bool
) -> None:
    """Only the configured secret opens the delivery-report endpoint."""
    config = EngineConfig(argon2_profile="test", dlr_secret=configured)
    from tfa_engine import MemoryStore
    engine = Engine(MemoryStore(), MemoryGateway(), config, clock=clock, resolver=None)
    assert engine.dlr_secret_matches(given) is ok


def test_callback_reaches_a_real_listener_signed(
    store: SQLiteStore, clock: FakeClock, listener: Listener
) -> None:
    """Over real HTTP on loopback (allowed by configuration) the body arrives signed."""
    engine = make_engine(store, clock, allow_private=True)
    issued = engine.create_token("shop")
    send(engine, issued.token, "r", listener.url)
    engine.callbacks.run_once()
    (request,) = listener.requests
    assert request["path"] == "/hook?x=1"
    assert request["headers"][SIGNATURE_HEADER] == expected_signature(
        issued.record.id, request["body"])
    assert json.loads(request["body"])["data"][0]["type"] == "INTERNAL"


def test_private_destination_is_refused_at_dispatch_without_connecting(
    store: SQLiteStore, clock: FakeClock, listener: Listener
) -> None:
    """A queued callback to loopback is not sent when private destinations are off."""
    engine = make_engine(store, clock, allow_private=False)
    code_id = store.insert_code(NewCode(
        "11111111111111111111", "tok", "r", PHONE, "h", 6, False, "TFA", listener.url,
        START, START + 300, "job"))
    store.activate_code(code_id, START)
    engine.callbacks.run_once()
    assert listener.requests == []
    assert store.callback_states("11111111111111111111") == [("pending", 1)]


def test_dns_rebinding_to_loopback_is_not_followed(
    store: SQLiteStore, clock: FakeClock, listener: Listener
) -> None:
    """A host that resolved public at request time but loopback at dispatch is not contacted."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])
    engine = make_engine(store, clock, resolver=lambda host, port: next(answers))
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "r", f"http://rebind.example:{listener.port}/")
    engine.callbacks.run_once()
    assert listener.requests == []
    assert store.callback_states(message_id) == [("pending", 1)]


def test_redirect_is_not_followed(
    store: SQLiteStore, clock: FakeClock, listener: Listener
) -> None:
    """A 302 to another loopback listener is a failure, and the target sees nothing."""
    target = Listener()
    try:
        listener.answers.append((302, {"Location": target.url}))
        engine = make_engine(store, clock, allow_private=True)
        issued = engine.create_token("shop")
        message_id = send(engine, issued.token, "r", listener.url)
        engine.callbacks.run_once()
        assert len(listener.requests) == 1
        assert target.requests == []
        assert store.callback_states(message_id) == [("pending", 1)]
    finally:
        target.close()


def test_failed_callback_is_retried_after_back_off(
    store: SQLiteStore, clock: FakeClock, listener: Listener
) -> None:
    """A 500 is retried once the back-off has passed, then delivered."""
    listener.answers.append((500, {}))
    engine = make_engine(store, clock, allow_private=True)
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "r", listener.url)
    engine.callbacks.run_once()
    clock.now += 1
    assert engine.callbacks.run_once() == 0  # back-off is 2 s
    clock.now += 1
    assert engine.callbacks.run_once() == 1
    assert len(listener.requests) == 2
    assert store.callback_states(message_id) == [("delivered", 1)]


def test_pending_callbacks_survive_a_restart(
    tmp_path: Path, clock: FakeClock, listener: Listener
) -> None:
    """Callbacks queued before a stop are delivered after, exactly once."""
    path = tmp_path / "tfa.db"
    first = make_engine(SQLiteStore(path), clock, allow_private=True)
    issued = first.create_token("shop")
    send(first, issued.token, "r", listener.url)
    first.close()
    second = make_engine(SQLiteStore(path), clock, allow_private=True)
    try:
        assert second.callbacks.run_once() == 1
        assert second.callbacks.run_once() == 0
        assert len(listener.requests) == 1
    finally:
        second.close()


def test_background_dispatcher_delivers_soon_after_queueing(
    store: SQLiteStore, listener: Listener
) -> None:
    """With the dispatcher thread running, a new callback arrives without polling by hand."""
    config = EngineConfig(argon2_profile="test", callback_key=KEY,
                          callback_allow_private=True)
    engine = Engine(store, MemoryGateway(), config, resolver=None)
    engine.callbacks.poll_interval = 30  # only the wake-up can make it arrive in time
    engine.start()
    try:
        issued = engine.create_token("shop")
        send(engine, issued.token, "r", listener.url)
        assert listener.received.wait(10)
    finally:
        engine.close()


def test_verify_signature_accepts_what_the_service_signs() -> None:
    """A client's check (verify_signature with the token's secret) accepts the service's
    signature of a body, and refuses another body, another secret or no header."""
    signer = CallbackSigner("a-callback-key-of-32-bytes-long!")
    body = b'{"api_job_id":"job","data":[]}'
    header = signer.sign("tok_1", body)
    secret = signer.secret_for("tok_1")
    assert verify_signature(body, header, secret)
    assert verify_signature(body, header.upper(), secret)
    assert not verify_signature(body + b" ", header, secret)
    assert not verify_signature(body, header, signer.secret_for("tok_2"))
    assert not verify_signature(body, None, secret)


def test_a_post_the_store_could_not_record_is_not_posted_again(
    clock: FakeClock,
) -> None:
    """The receiver took the callback, then the store was down when the dispatcher marked
    it delivered: the mark is made once the store is back, and no other round (after the
    lease) posts it again."""
    from outage import OutageStore

    store = OutageStore()
    engine, transport = recording_engine(store, clock)
    issued = engine.create_token("shop")
    message_id = send(engine, issued.token, "r", "https://hooks.example/tfa")
    delivered = store.callback_delivered

    def outage_while_marking(job_id: int, claim: str | None = None) -> None:
        store.callback_delivered = delivered  # type: ignore[method-assign]
        raise StoreUnavailable("the database cannot serve now: connection refused")

    store.callback_delivered = outage_while_marking  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):  # the round ends there, as the outage says
        engine.callbacks.run_once()
    assert len(transport.calls) == 1
    clock.now += engine.config.callback_lease + 1
    engine.callbacks.run_once()
    clock.now += engine.config.callback_lease + 1
    engine.callbacks.run_once()
    assert len(transport.calls) == 1
    assert store.callback_states(message_id) == [("delivered", 0)]


class SlowFirstTransport(RecordingTransport):
    """Records each post once it is answered; the INTERNAL callback takes 0.3 s."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, scheme: str, port: int, address: str, host: str, target: str,
                 body: bytes, headers: dict[str, str], timeout: float) -> int:
        if json.loads(body)["data"][0]["type"] == "INTERNAL":
            threading.Event().wait(0.3)  # a slow answer, on the real clock: posts are threads
        with self.lock:
            return super().__call__(scheme, port, address, host, target, body, headers, timeout)


def test_the_callbacks_of_one_message_go_out_in_order(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """A delivery report that overtook the send's answer queues SMS behind INTERNAL; even
    with posts in parallel, the SMS callback goes out only once INTERNAL was answered."""
    engine = make_engine(store, clock)
    transport = SlowFirstTransport()
    engine.callbacks.transport = transport
    issued = engine.create_token("shop")
    sent = engine.gateway.send

    def reported_at_once(message: Any) -> Any:  # the report overtakes the gateway's answer
        accepted = sent(message)
        engine.record_delivery_reports({"msisdn": PHONE[1:], "delivery_status": "DELIVRD",
                                        "delivery_date": "2026-12-07",
                                        "uuid": message.message_id})
        return accepted

    engine.gateway.send = reported_at_once  # type: ignore[method-assign]
    send(engine, issued.token, "ref-1", "https://client.example/cb")
    assert engine.callbacks.concurrency > 1
    assert engine.callbacks.run_once() == 2
    kinds = [json.loads(call["body"])["data"][0]["type"] for call in transport.calls]
    assert kinds == ["INTERNAL", "SMS"]
