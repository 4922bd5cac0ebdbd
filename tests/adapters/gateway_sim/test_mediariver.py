"""MediariverGateway against the simulator in-process: the request, the answers, retries, time.

The pool is a real urllib3 PoolManager whose requests the simulator answers in-process; time
is a fake clock that only requests and the gateway's sleeps move (see conftest).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from tfa_engine import Engine, EngineConfig, MemoryStore, catalogue
from tfa_engine._phones import mask
from tfa_engine.adapters.gateway_sim import MediariverSimulator
from tfa_engine.gateways import GatewayError, SmsMessage
from tfa_engine.gateways.mediariver import MediariverError, MediariverGateway

UK = "+447911123456"
MESSAGE = SmsMessage("10000000000000000001", UK, "TFA", "Your code: 493027")


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    """A canned HTTP answer for the pool."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (status, {"Content-Type": "application/json", **(headers or {})}, data)


def queued(**detail: Any) -> Any:
    """A 200 answer saying MESSAGE was queued, with ``detail`` changes."""
    entry = {"uuid": "u-1", "customer_uuid": MESSAGE.message_id, "queued": 1, "quality": "H"}
    entry.update(detail)
    return answer(200, {"total_queued": 1, "details": [entry]})


def timeout_error() -> ReadTimeoutError:
    return ReadTimeoutError(None, "/v2/send", "read timed out")  # type: ignore[arg-type]


def refused() -> NewConnectionError:
    return NewConnectionError(None, "connection refused")  # type: ignore[arg-type]


def failing(gateway: MediariverGateway, message: SmsMessage = MESSAGE) -> MediariverError:
    """Send and return the error the gateway raised."""
    with pytest.raises(MediariverError) as raised:
        gateway.send(message)
    return raised.value


# -- the request ----------------------------------------------------------------------------


def test_sends_the_documented_request(make_gateway: Any, pool: Any) -> None:
    """One POST to /v2/send with recipient, quality H, text, sender and our id as uuid."""
    make_gateway().send(MESSAGE)
    (request,) = pool.requests
    assert (request["method"], request["url"]) == ("POST", "http://gateway.test/v2/send")
    assert pool.sent_json() == {
        "messages": [
            {
                "recipients": [UK],
                "quality": "H",
                "message": "Your code: 493027",
                "sender": "TFA",
                "uuid": MESSAGE.message_id,
            }
        ]
    }


def test_the_simulator_queues_it(make_gateway: Any, sim: MediariverSimulator) -> None:
    """What the gateway sends is what the gateway's simulator accepts and keeps."""
    make_gateway().send(MESSAGE)
    (entry,) = sim.messages
    assert (entry["recipient"], entry["sender"], entry["customer_uuid"]) == (
        UK,
        "TFA",
        MESSAGE.message_id,
    )


@pytest.mark.parametrize("quality", ["S", "A"])
def test_no_sender_without_quality_h(make_gateway: Any, pool: Any, quality: str) -> None:
    """Qualities other than H carry no sender (mediariver would refuse one)."""
    make_gateway(quality=quality).send(MESSAGE)
    sent = pool.sent_json()["messages"][0]
    assert "sender" not in sent
    assert sent["quality"] == quality


def test_basic_auth_is_utf8(pool: Any, clock: Any, sim: MediariverSimulator) -> None:
    """Credentials outside Latin-1 are sent as UTF-8 and accepted."""
    sim.password = "pässwörd€"
    gateway = MediariverGateway("http://gateway.test", "sim", "pässwörd€", pool=pool, clock=clock)
    gateway.send(MESSAGE)
    expected = base64.b64encode("sim:pässwörd€".encode()).decode()
    assert pool.requests[0]["headers"]["Authorization"] == f"Basic {expected}"


def test_urllib3_neither_retries_nor_follows_redirects(make_gateway: Any, pool: Any) -> None:
    """Every request tells urllib3 retries=False and redirect=False: the gateway decides."""
    pool.canned.append(answer(503, {}))
    make_gateway().send(MESSAGE)
    assert [(r["retries"], r["redirect"]) for r in pool.requests] == [(False, False)] * 2


def test_base_url_path_and_trailing_slash(pool: Any, clock: Any) -> None:
    """A base URL with a path prefix and a trailing slash still reaches {base}/v2/send."""
    pool.canned.append(queued())
    MediariverGateway("https://example.test/sms/", "sim", "sim", pool=pool, clock=clock).send(
        MESSAGE
    )
    assert pool.requests[0]["url"] == "https://example.test/sms/v2/send"


# -- answers --------------------------------------------------------------------------------


def test_success_takes_one_attempt(make_gateway: Any) -> None:
    """An accepted message costs exactly one request."""
    gateway = make_gateway()
    gateway.send(MESSAGE)
    assert gateway.attempts_made == 1


@pytest.mark.parametrize(
    "canned",
    [
        pytest.param(queued(), id="200"),
        pytest.param(answer(201, {"total_queued": 1, "details": [{"queued": 1}]}), id="201"),
        pytest.param(
            answer(200, {"total_queued": 1, "details": [{"uuid": "u", "queued": 1}]}),
            id="no-customer-uuid",
        ),
    ],
)
def test_accepted_answers(make_gateway: Any, pool: Any, canned: Any) -> None:
    """200/201 saying the message was queued is success."""
    pool.canned.append(canned)
    make_gateway().send(MESSAGE)


@pytest.mark.parametrize(
    "canned",
    [
        pytest.param(answer(200, b"<html>ok</html>"), id="not-json"),
        pytest.param(answer(200, ["queued"]), id="not-an-object"),
        pytest.param(
            answer(200, {"total_queued": 0, "details": [{"queued": 1}]}), id="total-queued-0"
        ),
        pytest.param(answer(200, {"total_queued": 1, "details": []}), id="no-details"),
        pytest.param(answer(200, {"total_queued": 1}), id="details-missing"),
        pytest.param(queued(queued=0), id="detail-queued-0"),
        pytest.param(queued(queued=True), id="queued-boolean"),
        pytest.param(queued(customer_uuid="someone-else"), id="other-customer-uuid"),
        pytest.param(
            answer(200, {"total_queued": "1", "details": [{"queued": 1}]}), id="total-text"
        ),
    ],
)
def test_unconvincing_success_fails_without_retry(
    make_gateway: Any, pool: Any, canned: Any
) -> None:
    """A 2xx that does not say our message was queued fails, and is not sent again."""
    pool.canned.append(canned)
    error = failing(make_gateway())
    assert (error.attempts, error.status) == (1, 200)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(
            400, {"errors": [{"location": "/messages/0/quality", "message": "x"}]}, id="400"
        ),
        pytest.param(401, {"errors": [{"message": "No credentials provided"}]}, id="401-none"),
        pytest.param(401, {"errors": [{"message": "Credentials rejected"}]}, id="401-rejected"),
        pytest.param(403, {}, id="403"),
        pytest.param(404, {}, id="404"),
        pytest.param(302, {}, id="redirect"),
    ],
)
def test_refusals_fail_at_once(make_gateway: Any, pool: Any, status: int, body: Any) -> None:
    """Answers a second identical request could not change are not retried."""
    pool.canned.extend([answer(status, body), queued()])
    gateway = make_gateway()
    error = failing(gateway)
    assert (error.attempts, error.status, gateway.attempts_made) == (1, status, 1)


def test_400_reason_names_locations_and_messages(make_gateway: Any, sim: Any) -> None:
    """The reason of a 400 lists mediariver's locations and messages."""
    error = failing(make_gateway(), SmsMessage("1", "447911123456", "TFA", "a" * 641))
    assert "HTTP 400" in error.reason
    assert "/messages/0/recipients/0: should match format" in error.reason
    assert "/messages/0/message: should NOT be longer than 640 characters" in error.reason


def test_401_reason_says_which(make_gateway: Any, sim: MediariverSimulator) -> None:
    """The reason of a 401 carries mediariver's text."""
    sim.password = "changed"
    assert "Credentials rejected" in failing(make_gateway()).reason


def test_reason_never_holds_the_text_code_or_number(make_gateway: Any, pool: Any) -> None:
    """A gateway echoing the text, the code or the number does not get them into the reason."""
    echo = [
        {"location": "/messages/0/message", "message": f"bad text {MESSAGE.text!r}"},
        {"location": "/messages/0/message", "message": "bad code 493027 (x493027y)"},
        {"location": "/messages/0/recipients/0", "message": f"bad {UK} / 447911123456"},
    ]
    pool.canned.append(answer(400, {"errors": echo}))
    reason = failing(make_gateway()).reason
    assert "493027" not in reason
    assert "447911123456" not in reason
    assert "/messages/0/recipients/0" in reason


def test_error_is_a_gateway_error(make_gateway: Any, pool: Any) -> None:
    """Failures are GatewayErrors, which the engine turns into -65."""
    pool.canned.append(answer(400, {"errors": []}))
    with pytest.raises(GatewayError):
        make_gateway().send(MESSAGE)


# -- 429 ------------------------------------------------------------------------------------


def test_429_waits_the_given_milliseconds_then_succeeds(
    make_gateway: Any, pool: Any, sleeps: list[float]
) -> None:
    """RateLimit-Retry-After is milliseconds: waited exactly, then the message goes."""
    pool.canned.append(answer(429, {}, {"RateLimit-Retry-After": "1500"}))
    gateway = make_gateway()
    gateway.send(MESSAGE)
    assert (sleeps, gateway.attempts_made) == ([1.5], 2)


def test_429_beyond_the_deadline_fails_with_retry_after(
    make_gateway: Any, pool: Any, sleeps: list[float]
) -> None:
    """A wait that does not fit the deadline is not made: retry_after tells the caller."""
    pool.canned.append(answer(429, {}, {"RateLimit-Retry-After": "12000"}))
    error = failing(make_gateway(deadline=10.0))
    assert (error.retry_after, error.attempts, error.status, sleeps) == (12.0, 1, 429, [])


def test_429_on_the_last_attempt_fails_with_retry_after(make_gateway: Any, pool: Any) -> None:
    """With no attempt left, a 429 ends the send with its retry_after."""
    pool.canned.append(answer(429, {}, {"RateLimit-Retry-After": "100"}))
    error = failing(make_gateway(max_attempts=1))
    assert error.retry_after == pytest.approx(0.1)


def test_429_from_the_simulators_limit(make_gateway: Any, sim: MediariverSimulator) -> None:
    """The simulator's own limit: the second send fails with the window's remaining time."""
    sim.rate_limit = (1, 60.0)
    gateway = make_gateway()
    gateway.send(MESSAGE)
    assert failing(gateway).retry_after == 60.0


@pytest.mark.parametrize("header", [None, "soon", "nan"])
def test_429_without_a_usable_wait_backs_off(
    make_gateway: Any, pool: Any, sleeps: list[float], header: str | None
) -> None:
    """A 429 with no readable RateLimit-Retry-After is retried after the back-off."""
    headers = {} if header is None else {"RateLimit-Retry-After": header}
    pool.canned.append(answer(429, {}, headers))
    make_gateway(backoff=0.2).send(MESSAGE)
    assert sleeps == [0.2]


# -- retries and the deadline ---------------------------------------------------------------


def test_5xx_is_retried_with_exponential_back_off(
    make_gateway: Any, pool: Any, sleeps: list[float]
) -> None:
    """500, 502, then OK: three attempts, waits doubling."""
    pool.canned.extend([answer(500, {}), answer(502, {})])
    gateway = make_gateway(backoff=0.25)
    gateway.send(MESSAGE)
    assert (gateway.attempts_made, sleeps) == (3, [0.25, 0.5])


def test_persistent_5xx_fails_after_max_attempts(
    make_gateway: Any, pool: Any, sleeps: list[float]
) -> None:
    """Every attempt 503: max_attempts requests, then a GatewayError with status 503."""
    pool.canned.extend([answer(503, {})] * 4)
    error = failing(make_gateway(max_attempts=4, backoff=0.1))
    assert (error.attempts, error.status) == (4, 503)
    assert sleeps == [0.1, 0.2, 0.4]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(timeout_error, id="read-timeout"),
        pytest.param(refused, id="connection-refused"),
        pytest.param(lambda: ProtocolError("connection reset"), id="connection-reset"),
    ],
)
def test_network_failures_are_retried(make_gateway: Any, pool: Any, failure: Any) -> None:
    """Time-outs and connection errors are tried again; the next attempt can succeed."""
    pool.failures.append(failure())
    gateway = make_gateway()
    gateway.send(MESSAGE)
    assert gateway.attempts_made == 2


def test_network_failure_error_has_no_status(make_gateway: Any, pool: Any) -> None:
    """When no attempt got an answer, the error's status is None."""
    pool.failures.extend([refused() for _ in range(3)])
    error = failing(make_gateway())
    assert (error.attempts, error.status) == (3, None)
    assert "NewConnectionError" in error.reason


def test_timeouts_shrink_to_the_time_left(make_gateway: Any, pool: Any, clock: Any) -> None:
    """Later attempts get only what is left of the deadline."""
    pool.failures.extend([timeout_error(), timeout_error(), timeout_error()])
    start = clock()
    error = failing(make_gateway(deadline=1.0, read_timeout=0.4, connect_timeout=0.3, backoff=0.05))
    timeouts = [r["timeout"] for r in pool.requests]
    # 0.4 timed out + 0.05 wait + 0.4 timed out + 0.1 wait leave 0.05 for the third.
    assert [t.total for t in timeouts] == pytest.approx([1.0, 0.55, 0.05])
    assert [t.connect_timeout for t in timeouts] == pytest.approx([0.3, 0.3, 0.05])
    assert [t.read_timeout for t in timeouts] == pytest.approx([0.4, 0.4, 0.05])
    assert error.attempts == 3
    assert clock() - start <= 1.0 + 1e-9


def test_no_back_off_that_would_pass_the_deadline(
    make_gateway: Any, pool: Any, sleeps: list[float], clock: Any
) -> None:
    """When the next wait would not leave time for an attempt, the send fails at once."""
    pool.failures.extend([timeout_error(), timeout_error()])
    error = failing(make_gateway(deadline=1.0, read_timeout=0.45, backoff=0.1))
    # 0.45 + 0.1 wait + 0.45: the next 0.2 wait does not fit in the 0 s left.
    assert (error.attempts, sleeps) == (2, [0.1])
    assert "deadline" in error.reason


def test_slow_answers_count_against_the_deadline(make_gateway: Any, pool: Any, clock: Any) -> None:
    """Time spent waiting for 5xx answers is taken off the later attempts."""
    pool.elapse = 0.95
    pool.canned.extend([answer(500, {}), answer(500, {})])
    error = failing(make_gateway(deadline=1.0, backoff=0.1))
    assert error.attempts == 1
    assert len(pool.requests) == 1


def test_attempts_made_adds_up_over_sends(make_gateway: Any, pool: Any) -> None:
    """attempts_made counts every request of every send."""
    pool.canned.append(answer(500, {}))
    gateway = make_gateway()
    gateway.send(MESSAGE)
    gateway.send(MESSAGE)
    assert gateway.attempts_made == 3


# -- logs -----------------------------------------------------------------------------------


def test_logs_attempts_and_statuses_masked(
    make_gateway: Any, pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs show attempt numbers, statuses and a masked number; never the text or the code."""
    pool.canned.append(answer(503, {}))
    with caplog.at_level(logging.INFO, logger="tfa.gateway.mediariver"):
        make_gateway().send(MESSAGE)
    text = caplog.text
    assert "attempt 1/3" in text and "HTTP 503" in text
    assert "attempt 2/3" in text and "HTTP 200" in text
    assert mask(UK) in text
    assert UK not in text and "493027" not in text and "Your code" not in text
    assert {r.name for r in caplog.records} == {"tfa.gateway.mediariver"}


def test_failure_logs_hold_no_secret(
    make_gateway: Any, pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed attempts and the final failure are logged without the text or the number."""
    pool.failures.extend([refused(), timeout_error()])
    pool.canned.append(answer(400, {"errors": [{"location": "/x", "message": "493027"}]}))
    with caplog.at_level(logging.INFO, logger="tfa.gateway.mediariver"):
        failing(make_gateway())
    assert "gave up" in caplog.text
    assert UK not in caplog.text and "493027" not in caplog.text


# -- construction and lifecycle -------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "options"),
    [
        pytest.param("gateway.test", {}, id="no-scheme"),
        pytest.param("ftp://gateway.test", {}, id="ftp"),
        pytest.param("http://", {}, id="no-host"),
        pytest.param("http://gateway.test?x=1", {}, id="query"),
        pytest.param("http://gateway.test", {"quality": "X"}, id="quality"),
        pytest.param("http://gateway.test", {"max_attempts": 0}, id="no-attempts"),
        pytest.param("http://gateway.test", {"deadline": 0}, id="no-deadline"),
        pytest.param("http://gateway.test", {"read_timeout": -1}, id="negative-timeout"),
        pytest.param("http://gateway.test", {"backoff": -0.1}, id="negative-backoff"),
    ],
)
def test_bad_settings_are_refused(base_url: str, options: dict[str, Any]) -> None:
    """Settings that cannot work are refused when the gateway is built."""
    with pytest.raises(ValueError):
        MediariverGateway(base_url, "sim", "sim", **options)


def test_username_with_colon_is_refused() -> None:
    """Basic auth cannot carry a user name with a colon."""
    with pytest.raises(ValueError):
        MediariverGateway("http://gateway.test", "a:b", "sim")


def test_repr_hides_the_credentials() -> None:
    """The repr names the URL, not the account."""
    gateway = MediariverGateway("http://gateway.test", "account-name", "s3cret-pw")
    try:
        assert "s3cret-pw" not in repr(gateway) and "account-name" not in repr(gateway)
    finally:
        gateway.close()


def test_close_clears_the_pool(make_gateway: Any, pool: Any) -> None:
    """close() clears the pooled connections; the gateway still works afterwards."""
    gateway = make_gateway()
    gateway.close()
    assert pool.clears == 1
    gateway.send(MESSAGE)


# -- with the engine ------------------------------------------------------------------------


def test_engine_code_reaches_the_simulator_and_its_report_comes_back(
    sim: MediariverSimulator, pool: Any, clock: Any, posted: list[Any]
) -> None:
    """A code requested from the engine is queued under its message_id; the report matches it."""
    sim.dlr_url = "http://127.0.0.1:9/1/dlr/secret"
    gateway = MediariverGateway("http://gateway.test", "sim", "sim", pool=pool, clock=clock)
    engine = Engine(
        MemoryStore(), gateway, EngineConfig(argon2_profile="test"), clock=clock, resolver=None
    )
    try:
        token = engine.create_token("shop").token
        body = {"client_ref": "login-1", "phone_number": UK}
        outcome = engine.request_code(token, "127.0.0.1", body)
        assert outcome.status == catalogue.SUCCESS
        (entry,) = sim.messages
        assert entry["customer_uuid"] == outcome.result["message_id"]
        assert sim.drain(5)
        ((_, report),) = posted
        assert engine.record_delivery_reports(report) == 1
    finally:
        engine.close()
