"""Delivery end to end: `tfa serve` and the mediariver gateway over real HTTP on 127.0.0.1.

What runs where:
    * ``tfa serve`` is always a real process, configured only through ``TFA_*`` variables.
    * The full round trip uses ``tfa gateway-sim`` as a process too; the other tests put the
      simulator in this process behind :class:`GatewayFront`, a WSGI door that counts the
      requests reaching ``/v2/send``, can drop their credentials (as a misconfigured proxy
      would) and can hold an answer back until the simulator's delivery report went out.
    * Callbacks go to :class:`CallbackListener`, an ``http.server`` in a thread, which
      records every request and answers with the status the test chooses.

Every wait is bounded, and every process, server and thread is stopped in a ``finally``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import loopback
import pytest
from loopback import free_port
from server_http import Reply, call
from tfa_processes import (
    REPO,
    TfaProcess,
    clean_environ,
    create_token_json,
    tfa_command,
)

from tfa_engine import catalogue
from tfa_engine.adapters.gateway_sim import MediariverSimulator

pytestmark = pytest.mark.network

STOP_TIMEOUT = 15.0  # seconds for a process or server to stop
LINE_TIMEOUT = 10.0  # seconds for an expected event (a log line, a report)
HTTP_TIMEOUT = 15.0  # one exchange; above the gateway's default 10 s deadline
CALLBACK_TIMEOUT = 10.0  # seconds for an expected callback

PHONE = "+447911123456"
SENDER = "Shop2FA"
GATEWAY_USER = "e2e"
GATEWAY_PASSWORD = "e2e-gateway-pass"
CALLBACK_KEY = "e2e-callback-signing-key-0123456789"
DLR_SECRET = "e2e-dlr-path-secret"
# MediariverGateway's defaults, which these services keep (TFA_MEDIARIVER_DEADLINE unset):
# one send may take this long in all, and one attempt may wait this long for an answer.
GATEWAY_DEADLINE = 10.0
GATEWAY_READ_TIMEOUT = 5.0
GATEWAY_MAX_ATTEMPTS = 3
CODE_IN_TEXT = re.compile(r"\b(\d{6})\b")


# -- processes ---------------------------------------------------------------------------
def start_tfa(args: list[str], env: dict[str, str], announcement: str) -> tuple[TfaProcess, str]:
    """Start `tfa ARGS` and return it with the URL its ``announcement`` line names."""
    running = TfaProcess.announced(
        [*tfa_command(), *args], cwd=REPO, env=env, name=f"tfa {args[0]}", pattern=announcement
    )
    return running, running.base_url


def base_env(workdir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without its TFA_* variables, plus a private database."""
    env = clean_environ()
    env.update(TFA_DATABASE=str(workdir / "tfa.db"), TFA_ARGON2_PROFILE="test",
               PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


def mediariver_env(workdir: Path, gateway_url: str, **settings: str) -> dict[str, str]:
    """``base_env`` with the mediariver gateway at ``gateway_url``."""
    return base_env(
        workdir,
        TFA_GATEWAY="mediariver",
        TFA_MEDIARIVER_URL=gateway_url,
        TFA_MEDIARIVER_USERNAME=GATEWAY_USER,
        TFA_MEDIARIVER_PASSWORD=GATEWAY_PASSWORD,
        TFA_CALLBACK_KEY=CALLBACK_KEY,
        **settings,
    )


@dataclass(frozen=True)
class Token:
    """An API token as `tfa token create --json` printed it."""

    id: str
    token: str


def create_token(env: dict[str, str]) -> Token:
    """Run `tfa token create --json` on the database of ``env``."""
    created = create_token_json(REPO, env, "e2e")
    return Token(created["id"], created["token"])


@dataclass
class Service:
    """A running `tfa serve` and the token it knows."""

    process: TfaProcess
    url: str
    token: Token


def start_serve(env: dict[str, str], port: int = 0) -> Service:
    """Create a token on ``env``'s database, then start `tfa serve` on it."""
    token = create_token(env)
    process, url = start_tfa(
        ["serve", "--host", "127.0.0.1", "--port", str(port)], env, r"tfa serving on (http://\S+)"
    )
    return Service(process, url, token)


# -- HTTP clients --------------------------------------------------------------------------
def request_code(service: Service, client_ref: str, **fields: Any) -> Reply:
    """``POST /1/2fa`` for ``PHONE``."""
    body = {"client_ref": client_ref, "phone_number": PHONE, **fields}
    return call(service.url, "POST", "/1/2fa", token=service.token.token, body=body)


def validate(service: Service, client_ref: str, code: str) -> Reply:
    """``POST /1/2fa/{client_ref}/{code}``."""
    return call(service.url, "POST", f"/1/2fa/{client_ref}/{code}", token=service.token.token)


def outcome(reply: Reply) -> tuple[int, int]:
    """(HTTP status, status_code), to compare with a catalogue entry's."""
    return reply.status, reply.code


def expected(status: catalogue.Status) -> tuple[int, int]:
    """(HTTP status, status_code) of a catalogue entry."""
    return status.http, status.code


def new_ref(label: str) -> str:
    """A client_ref no other test uses."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


# -- callbacks -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    """One request the callback listener got, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def data(self) -> dict[str, Any]:
        """The callback's single ``data`` entry."""
        (entry,) = json.loads(self.body)["data"]
        return dict(entry)


class CallbackListener:
    """An HTTP server on 127.0.0.1 that records every POST and answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[Received] = []
        self._changed = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                answered = listener.status
                with listener._changed:
                    listener.received.append(
                        Received(self.path, dict(self.headers.items()), body, answered)
                    )
                    listener._changed.notify_all()
                self.send_response(answered)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test asserts on what was received, not on a log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(loopback.POLL_INTERVAL,), daemon=True
        )
        self._thread.start()

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        """A callback_url naming this listener's port on ``host``."""
        return f"http://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = CALLBACK_TIMEOUT) -> list[Received]:
        """What was received once there are ``count`` requests, or when ``timeout`` ends."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return list(self.received)

    def close(self) -> None:
        """Stop serving and release the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)


def expected_signature(token_id: str, body: bytes) -> str:
    """X-TFA-Signature as a client computes it from the documented derivation."""
    secret = hmac.new(
        CALLBACK_KEY.encode(), b"callback:" + token_id.encode(), hashlib.sha256
    ).hexdigest()
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_of(received: Received) -> str | None:
    """The signature header, whatever its spelling's case."""
    for name, value in received.headers.items():
        if name.lower() == "x-tfa-signature":
            return value
    return None


# -- the in-process gateway ----------------------------------------------------------------
class GatewayFront:
    """The simulator behind a door the tests control (a WSGI app wrapping it)."""

    def __init__(self, sim: MediariverSimulator) -> None:
        self.sim = sim
        self.strip_credentials = False  # a proxy that drops Authorization
        self.hold_until_reported = False  # answer /v2/send only after its report was posted
        self.arrived = threading.Event()  # set when a /v2/send request comes in
        self._lock = threading.Lock()
        self._sends = 0

    @property
    def sends(self) -> int:
        """Requests that reached ``/v2/send`` so far."""
        with self._lock:
            return self._sends

    def reset(self) -> None:
        """Every fault off, the right password, no reports, nothing held."""
        self.sim.faults.reset()
        self.sim.password = GATEWAY_PASSWORD
        self.sim.dlr_url = None
        self.strip_credentials = False
        self.hold_until_reported = False
        self.arrived.clear()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        sending = environ.get("PATH_INFO") == "/v2/send"
        if sending:
            with self._lock:
                self._sends += 1
            self.arrived.set()
            if self.strip_credentials:
                environ.pop("HTTP_AUTHORIZATION", None)
        answer = self.sim(environ, start_response)
        if sending and self.hold_until_reported:
            self.sim.drain(LINE_TIMEOUT)
        return answer


def serve_in_thread(app: Any, port: int = 0) -> tuple[Any, threading.Thread, str]:
    """Serve ``app`` on 127.0.0.1 in a thread, with room for held requests."""
    return loopback.serve_in_thread(app, port=port, threads=8, name="gateway-front")


def stop_in_thread(server: Any, thread: threading.Thread) -> None:
    """Stop a server run by ``serve_in_thread``."""
    loopback.stop_in_thread(server, thread, STOP_TIMEOUT)


# -- fixtures ------------------------------------------------------------------------------
@dataclass
class FrontServer:
    """The gateway front and where it is served."""

    front: GatewayFront
    url: str


@pytest.fixture(scope="module")
def front_server() -> Iterator[FrontServer]:
    """One in-process simulator (no rate limit of its own) behind a GatewayFront."""
    sim = MediariverSimulator(
        username=GATEWAY_USER, password=GATEWAY_PASSWORD, rate_limit=None
    )
    front = GatewayFront(sim)
    server, thread, url = serve_in_thread(front)
    try:
        yield FrontServer(front, url)
    finally:
        sim.close()  # wakes requests held by latency or hang faults
        stop_in_thread(server, thread)


@pytest.fixture
def front(front_server: FrontServer) -> Iterator[GatewayFront]:
    """The gateway front, reset before and after the test."""
    front_server.front.reset()
    try:
        yield front_server.front
    finally:
        front_server.front.reset()


@pytest.fixture(scope="module")
def service(
    front_server: FrontServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`tfa serve` on the front: private callbacks NOT allowed, rate limits off (the tests
    send many codes to one phone; limits are not what is under test here)."""
    workdir = tmp_path_factory.mktemp("delivery")
    env = mediariver_env(workdir, front_server.url, TFA_RATE_LIMITS="off")
    running = start_serve(env)
    try:
        yield running
    finally:
        running.process.stop()


@pytest.fixture
def listener() -> Iterator[CallbackListener]:
    """A callback listener on 127.0.0.1, answering 200 unless told otherwise."""
    running = CallbackListener()
    try:
        yield running
    finally:
        running.close()


def private_callbacks_env(workdir: Path, gateway_url: str) -> dict[str, str]:
    """Settings for a server whose callbacks may go to 127.0.0.1."""
    return mediariver_env(
        workdir,
        gateway_url,
        TFA_CALLBACK_ALLOW_PRIVATE="true",
        TFA_DLR_SECRET=DLR_SECRET,
        TFA_RATE_LIMITS="off",
    )


# -- 1. the whole round trip ---------------------------------------------------------------
def test_code_travels_through_gateway_sim_and_reports_back(
    tmp_path: Path, listener: CallbackListener
) -> None:
    """Both processes: SMS at the simulator, INTERNAL then SMS callbacks signed, code Valid."""
    # The simulator needs our DLR URL at start and we need its URL at start: reserve the
    # server's port first, start the simulator pointing at it, then the server on it.
    serve_port = free_port()
    dlr_url = f"http://127.0.0.1:{serve_port}/1/dlr/{DLR_SECRET}"
    # A delay keeps the report clear of the race shown by
    # test_report_arriving_before_the_gateway_answer_is_not_lost.
    sim, sim_url = start_tfa(
        ["gateway-sim", "--port", "0", "--dlr-url", dlr_url, "--dlr-delay", "0.5",
         "--username", GATEWAY_USER, "--password", GATEWAY_PASSWORD],
        base_env(tmp_path),
        r"mediariver simulator on (http://\S+)",
    )
    service: Service | None = None
    try:
        service = start_serve(private_callbacks_env(tmp_path, sim_url), port=serve_port)
        client_ref = new_ref("roundtrip")
        before = time.time()
        reply = request_code(
            service, client_ref, sender_id=SENDER, callback_url=listener.url(path="/hook?n=1")
        )
        assert outcome(reply) == expected(catalogue.SUCCESS)
        message_id = reply.body["result"]["message_id"]

        received_all = listener.wait_for(2)
        assert len(received_all) == 2, [r.body for r in received_all]
        internal, sms = received_all
        after = time.time()
        for received, kind, status in ((internal, "INTERNAL", "ACCEPTD"),
                                       (sms, "SMS", "DELIVRD")):
            assert received.path == "/hook?n=1"
            assert received.answered == 200
            assert signature_of(received) == expected_signature(service.token.id, received.body)
            assert json.loads(received.body)["api_job_id"] == reply.body["api_job_id"]
            data = received.data
            assert (data["type"], data["status"]) == (kind, status)
            assert data["message_id"] == message_id
            assert (data["to"], data["sms_from"]) == (PHONE.lstrip("+"), SENDER)
            assert data["client_message_id"] == client_ref
            assert data["error_code"] == 0
            assert int(before * 1000) <= data["timestamp"] <= int(after * 1000)
            assert data["micro_timestamp"] // 1000 == data["timestamp"]
        assert internal.data["micro_timestamp"] <= sms.data["micro_timestamp"]

        listed = call(sim_url, "GET", "/messages").body
        (entry,) = [item for item in listed if item["customer_uuid"] == message_id]
        assert (entry["recipient"], entry["quality"], entry["sender"]) == (PHONE, "H", SENDER)
        code = CODE_IN_TEXT.search(entry["message"])
        assert code is not None, entry["message"]
        assert outcome(validate(service, client_ref, code[1])) == expected(catalogue.VALID)
    finally:
        if service is not None:
            service.process.stop()
        sim.stop()


def test_report_arriving_before_the_gateway_answer_is_not_lost(
    tmp_path: Path, front: GatewayFront, front_server: FrontServer, listener: CallbackListener
) -> None:
    """A delivery report posted before the gateway's 200 reached us still gives the SMS callback."""
    service = start_serve(private_callbacks_env(tmp_path, front_server.url))
    try:
        front.sim.dlr_url = f"{service.url}/1/dlr/{DLR_SECRET}"
        # Real gateways report asynchronously: a fast handset, or a first attempt that timed
        # out on our side, can make the report overtake the HTTP answer.
        front.hold_until_reported = True
        reply = request_code(service, new_ref("early-dlr"), callback_url=listener.url())
        assert outcome(reply) == expected(catalogue.SUCCESS)
        kinds = [(r.data["type"], r.data["status"]) for r in listener.wait_for(2, timeout=3.0)]
        assert kinds == [("INTERNAL", "ACCEPTD"), ("SMS", "DELIVRD")], (
            "the delivery report that came while the send was in flight was dropped"
        )
    finally:
        service.process.stop()


# -- 2. gateway failures seen through the server ---------------------------------------------
@dataclass(frozen=True)
class Failure:
    """A way for the gateway to fail, and what the server's log says about it."""

    arrange: Callable[[GatewayFront], None]
    attempts: int
    logged: str


def _fail_with(status: int, times: int = 10) -> Callable[[GatewayFront], None]:
    def arrange(front: GatewayFront) -> None:
        front.sim.faults.fail_status, front.sim.faults.fail_next = status, times

    return arrange


def _rotate_password(front: GatewayFront) -> None:
    front.sim.password = "rotated-on-the-gateway-side"


def _strip_credentials(front: GatewayFront) -> None:
    front.strip_credentials = True


def _rate_limit(wait_ms: int, times: int = 10) -> Callable[[GatewayFront], None]:
    def arrange(front: GatewayFront) -> None:
        front.sim.faults.force_429, front.sim.faults.retry_after_ms = times, wait_ms

    return arrange


def _hang(front: GatewayFront) -> None:
    # Just past the gateway's read time-out: the held requests end soon after it gave up.
    front.sim.faults.hang = GATEWAY_READ_TIMEOUT + 1.0


FAILURES = [
    pytest.param(Failure(_fail_with(400), 1, r"HTTP 400"), id="400-rejected"),
    pytest.param(Failure(_rotate_password, 1, r"HTTP 401: Credentials rejected"),
                 id="401-credentials-rejected"),
    pytest.param(Failure(_strip_credentials, 1, r"HTTP 401: No credentials provided"),
                 id="401-no-credentials"),
    pytest.param(Failure(_rate_limit(50), GATEWAY_MAX_ATTEMPTS, r"HTTP 429, retry after 0\.05s"),
                 id="429-short-wait-every-attempt"),
    pytest.param(Failure(_rate_limit(60_000), 1, r"HTTP 429, retry after 60s"),
                 id="429-wait-beyond-deadline"),
    pytest.param(Failure(_fail_with(503), GATEWAY_MAX_ATTEMPTS, r"HTTP 503"), id="503"),
    # Attempt 1 times out after the 5 s read time-out, attempt 2 at the 10 s deadline.
    pytest.param(Failure(_hang, 2, r"ReadTimeoutError"), id="timeout"),
]


@pytest.mark.parametrize("failure", FAILURES)
def test_gateway_failure_is_65_and_leaves_client_ref_free(
    service: Service, front: GatewayFront, failure: Failure
) -> None:
    """Gateway failure: -65 HTTP 400 after the expected attempts; the same client_ref then works."""
    client_ref = new_ref("gateway-failure")
    failure.arrange(front)
    sends, queued, mark = front.sends, len(front.sim.messages), service.process.mark()

    reply = request_code(service, client_ref)

    assert outcome(reply) == expected(catalogue.SYSTEM_ERROR)
    assert reply.seconds < GATEWAY_DEADLINE + 2.0
    assert front.sends - sends == failure.attempts
    plural = "" if failure.attempts == 1 else "s"
    after = rf"\(after {failure.attempts} attempt{plural}\)"
    service.process.wait_for(rf"mediariver gave up on .*{failure.logged}.*{after}", since=mark)
    assert len(front.sim.messages) == queued

    front.reset()
    again = request_code(service, client_ref)
    assert outcome(again) == expected(catalogue.SUCCESS)
    assert front.sends - sends == failure.attempts + 1
    assert front.sim.messages[-1]["customer_uuid"] == again.body["result"]["message_id"]


RECOVERIES = [
    pytest.param(_fail_with(500, times=1), id="500-once"),
    pytest.param(_rate_limit(50, times=1), id="429-once-short-wait"),
]


@pytest.mark.parametrize("arrange", RECOVERIES)
def test_transient_gateway_failure_is_retried_within_the_request(
    service: Service, front: GatewayFront, arrange: Callable[[GatewayFront], None]
) -> None:
    """One transient failure: the client still gets 201, after two gateway requests."""
    arrange(front)
    sends = front.sends
    reply = request_code(service, new_ref("transient"))
    assert outcome(reply) == expected(catalogue.SUCCESS)
    assert front.sends - sends == 2


def test_unreachable_gateway_is_65_until_it_listens(
    tmp_path: Path, front: GatewayFront
) -> None:
    """Connection refused: -65 after 3 attempts; once the gateway listens, the same ref: 201."""
    port = free_port()
    service = start_serve(mediariver_env(tmp_path, f"http://127.0.0.1:{port}"))
    gateway: tuple[Any, threading.Thread, str] | None = None
    try:
        client_ref = new_ref("refused")
        mark = service.process.mark()
        reply = request_code(service, client_ref)
        assert outcome(reply) == expected(catalogue.SYSTEM_ERROR)
        assert reply.seconds < GATEWAY_DEADLINE
        service.process.wait_for(
            rf"mediariver gave up on .*NewConnectionError.*"
            rf"\(after {GATEWAY_MAX_ATTEMPTS} attempts\)",
            since=mark,
        )

        gateway = serve_in_thread(front, port=port)
        sends = front.sends
        again = request_code(service, client_ref)
        assert outcome(again) == expected(catalogue.SUCCESS)
        assert front.sends - sends == 1
    finally:
        if gateway is not None:
            stop_in_thread(*gateway[:2])
        service.process.stop()


# -- 3. a slow gateway holds one request, not the server --------------------------------------
def test_slow_gateway_does_not_delay_another_clients_validate(
    service: Service, front: GatewayFront
) -> None:
    """While a send waits 2 s on the gateway, a validate from another connection takes < 1 s."""
    ready_ref = new_ref("ready")
    assert outcome(request_code(service, ready_ref)) == expected(catalogue.SUCCESS)
    code = CODE_IN_TEXT.search(front.sim.messages[-1]["message"])
    assert code is not None

    front.sim.faults.latency = 2.0
    front.arrived.clear()
    slow: list[Reply] = []
    slow_thread = threading.Thread(
        target=lambda: slow.append(request_code(service, new_ref("slow"))), daemon=True
    )
    slow_thread.start()
    try:
        assert front.arrived.wait(LINE_TIMEOUT), "the slow request never reached the gateway"
        quick = validate(service, ready_ref, code[1])
        still_sending = slow_thread.is_alive()
    finally:
        slow_thread.join(timeout=HTTP_TIMEOUT)

    assert outcome(quick) == expected(catalogue.VALID)
    assert quick.seconds < 1.0
    assert still_sending
    (slow_reply,) = slow
    assert outcome(slow_reply) == expected(catalogue.SUCCESS)
    assert slow_reply.seconds >= 2.0


# -- 4. callback URLs that point inside are refused at request time ---------------------------
INTERNAL_HOSTS = [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("2130706433", id="decimal"),
    pytest.param("0x7f000001", id="hex"),
    pytest.param("0177.0.0.1", id="octal"),
    pytest.param("[::1]", id="ipv6-loopback"),
    pytest.param("[::ffff:127.0.0.1]", id="ipv4-mapped"),
    pytest.param("localhost", id="localhost"),
    pytest.param("169.254.169.254", id="link-local-metadata"),
    pytest.param("10.0.0.1", id="private"),
    pytest.param("100.64.0.1", id="cgnat"),
    pytest.param("0.0.0.0", id="unspecified"),
]


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_internal_callback_url_is_61_and_nothing_is_contacted(
    service: Service, front: GatewayFront, listener: CallbackListener, host: str
) -> None:
    """Private destinations not allowed: -61, no SMS sent, the local listener sees nothing."""
    sends = front.sends
    reply = request_code(service, new_ref("ssrf"), callback_url=listener.url(host))
    assert outcome(reply) == expected(catalogue.CALLBACK_INVALID)
    assert front.sends == sends
    assert listener.received == []


# -- 5. a pending callback survives a crash -------------------------------------------------
def test_pending_callback_is_delivered_once_after_a_crash(
    tmp_path: Path, front: GatewayFront, front_server: FrontServer, listener: CallbackListener
) -> None:
    """INTERNAL callback refused (503), server SIGKILLed, restarted: delivered exactly once."""
    env = private_callbacks_env(tmp_path, front_server.url)
    listener.status = 503
    first = start_serve(env)
    try:
        reply = request_code(first, new_ref("durable"), callback_url=listener.url())
        assert outcome(reply) == expected(catalogue.SUCCESS)
        message_id = reply.body["result"]["message_id"]
        # The log line comes after the failure was written to the store: killing earlier
        # would leave the entry claimed (leased) rather than pending.
        first.process.wait_for(rf"callback for message_id={message_id} failed \(attempt 1\)")
    finally:
        killed = first.process.stop(signal.SIGKILL)
    assert killed == -signal.SIGKILL
    (refused,) = listener.received
    assert refused.answered == 503

    listener.status = 200
    second, _ = start_tfa(
        ["serve", "--host", "127.0.0.1", "--port", "0"], env, r"tfa serving on (http://\S+)"
    )
    try:
        # The dispatcher's first retry is due 2 s after the failure; it polls every second.
        received = listener.wait_for(2)
        assert len(received) == 2, "the pending callback was not delivered after the restart"
        second.wait_for(rf"callback for message_id={message_id} delivered")
        # Longer than the dispatcher's poll interval: a duplicate would show up here.
        assert len(listener.wait_for(3, timeout=2.5)) == 2
    finally:
        second.stop()
    delivered = listener.received[1]
    assert delivered.answered == 200
    assert delivered.body == refused.body
    assert (delivered.data["type"], delivered.data["status"]) == ("INTERNAL", "ACCEPTD")
    assert delivered.data["message_id"] == message_id
    assert signature_of(delivered) == expected_signature(first.token.id, delivered.body)
