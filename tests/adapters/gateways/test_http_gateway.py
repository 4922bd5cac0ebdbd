"""HttpGateway over real HTTP against a scripted provider on 127.0.0.1: what it sends,
what each answer means, what is tried again, and what it refuses to start with."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from tfa_engine.adapters.server.gateway_kinds import gateway_spec
from tfa_engine.config import ConfigError
from tfa_engine.gateways import Route, RoutedGateway, SmsMessage
from tfa_engine.gateways.http import HttpGateway, HttpGatewayError

pytestmark = pytest.mark.network

UK = "+447911123456"
MESSAGE = SmsMessage("10000000000000000001", UK, "TFA", "Your code: 493027")
BODY = {"to": "{to}", "text": "{text}"}
HANG = 5.0  # seconds a hanging answer waits at most (released at teardown)

Script = tuple[int, Any, dict[str, str]]  # status, JSON body, headers


class Provider:
    """Answers each request with the next scripted answer (the last one repeats), or
    holds it while ``hang`` is set; keeps every body."""

    def __init__(self, *answers: Script) -> None:
        self.answers = list(answers) or [(201, {"id": "p-1"}, {})]
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.hang = False
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        self.headers.append({key: value for key, value in environ.items()
                             if key.startswith(("HTTP_", "CONTENT_TYPE"))})
        if self.hang:
            self.release.wait(HANG)
        status, body, headers = self.answers[min(len(self.bodies), len(self.answers)) - 1]
        data = json.dumps(body).encode()
        start_response(f"{status} X", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(data))),
                                       *headers.items()])
        return [data]


@pytest.fixture
def waits() -> list[float]:
    """The back-offs a gateway asked to sleep (none is slept)."""
    return []


@pytest.fixture
def gateway(serve: Any, waits: list[float]) -> Callable[..., tuple[HttpGateway, Provider]]:
    """``gateway(*answers, **options)``: a gateway on a provider scripted with ``answers``."""
    made: list[tuple[HttpGateway, Provider]] = []

    def build(*answers: Script, **options: Any) -> tuple[HttpGateway, Provider]:
        provider = Provider(*answers)
        url = options.pop("url", None) or serve(provider) + "/send"
        body = options.pop("body", BODY)
        settings: dict[str, Any] = {"deadline": 2.0, "sleep": waits.append, **options}
        made.append((HttpGateway(url, body, **settings), provider))
        return made[-1]

    yield build
    for built, provider in made:
        provider.release.set()
        built.close()


def fails(gateway: HttpGateway) -> HttpGatewayError:
    """Send MESSAGE and return the error raised."""
    with pytest.raises(HttpGatewayError) as raised:
        gateway.send(MESSAGE)
    return raised.value


def test_json_body_is_the_template_filled(gateway: Any) -> None:
    """The provider receives the template with the number and text filled in, as JSON."""
    built, provider = gateway(body={"sms": {"to": "{to_digits}", "text": "{text}",
                                            "ref": "{message_id}", "from": "{sender}"}})
    built.send(MESSAGE)
    assert json.loads(provider.bodies[0]) == {"sms": {
        "to": UK[1:], "text": MESSAGE.text, "ref": MESSAGE.message_id, "from": "TFA"}}


def test_bearer_token_is_sent(gateway: Any) -> None:
    """auth bearer sends Authorization: Bearer <token>."""
    built, provider = gateway(auth="bearer", token="t0ken")
    built.send(MESSAGE)
    assert provider.headers[0]["HTTP_AUTHORIZATION"] == "Bearer t0ken"


def test_provider_id_is_read_at_id_field(gateway: Any) -> None:
    """The answer's field at id_field is the provider's id in Accepted."""
    built, _ = gateway((200, {"data": [{"ref": 77}]}, {}), id_field="data.0.ref")
    assert built.send(MESSAGE).provider_id == "77"


def test_503_is_tried_again_within_the_deadline(gateway: Any, waits: list[float]) -> None:
    """A 503 says the message was not taken: the next request, after a back-off, is accepted."""
    built, provider = gateway((503, {}, {}), (201, {"id": "p-1"}, {}), backoff=0.1)
    built.send(MESSAGE)
    assert (len(provider.bodies), waits) == (2, [0.1])


def test_429_waits_as_long_as_retry_after_says(gateway: Any, waits: list[float]) -> None:
    """A 429 with Retry-After: 1 waits 1 s, then the message is taken."""
    built, _ = gateway((429, {}, {"Retry-After": "1"}), (201, {}, {}), deadline=5.0)
    built.send(MESSAGE)
    assert waits == [1.0]


def test_500_fails_at_once_as_maybe_sent(gateway: Any) -> None:
    """A 500 may come after the provider took it: one request, maybe_sent, no retry."""
    built, provider = gateway((500, {}, {}))
    error = fails(built)
    assert (error.status, error.maybe_sent, len(provider.bodies)) == (500, True, 1)


def test_no_answer_after_the_request_is_maybe_sent(gateway: Any) -> None:
    """A provider that takes the request and does not answer in time: maybe_sent, once."""
    built, provider = gateway(deadline=0.3)
    provider.hang = True
    error = fails(built)
    assert (error.status, error.maybe_sent, len(provider.bodies)) == (None, True, 1)


def test_unreachable_provider_is_tried_again_and_not_maybe_sent(
    gateway: Any, free_port: int, waits: list[float]
) -> None:
    """Nothing listens: every attempt is made, and the message certainly was not sent."""
    built, _ = gateway(url=f"http://127.0.0.1:{free_port}/send", backoff=0.01)
    error = fails(built)
    assert (error.maybe_sent, built.requests_made, len(waits)) == (False, 3, 2)


def test_refused_credentials_fail_at_once(gateway: Any) -> None:
    """A 401 names the credentials and is not tried again."""
    built, provider = gateway((401, {"error": "bad key"}, {}), auth="bearer", token="t0k3n")
    error = fails(built)
    assert "refused the credentials" in error.reason
    assert (error.maybe_sent, len(provider.bodies)) == (False, 1)


def test_refusal_reason_holds_neither_code_number_nor_secret(
    gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 echoing the text, number and token is reported without any of them."""
    echo = {"error": f"bad {MESSAGE.text} to {UK} with t0k3n-secret"}
    built, _ = gateway((400, echo, {}), auth="bearer", token="t0k3n-secret")
    with caplog.at_level(logging.DEBUG):
        error = fails(built)
    shown = error.reason + caplog.text
    assert "HTTP 400" in error.reason
    assert not any(secret in shown for secret in ("493027", UK, UK[1:], "t0k3n-secret"))


def test_accepted_status_without_the_accept_value_is_refused(gateway: Any) -> None:
    """HTTP 200 whose accept_field holds another value is a refusal, not maybe sent."""
    built, _ = gateway((200, {"messages": [{"status": "7"}]}, {}),
                       accept_field="messages.0.status", accept_value="0")
    error = fails(built)
    assert "messages.0.status = '7'" in error.reason
    assert error.maybe_sent is False


def test_check_reports_refused_credentials(gateway: Any) -> None:
    """check() raises naming the credentials when the provider answers 401."""
    built, provider = gateway((401, {}, {}))
    with pytest.raises(HttpGatewayError, match="refused the credentials"):
        built.check()
    assert provider.bodies == [b"{}"]


def test_check_passes_when_the_provider_refuses_only_the_empty_body(gateway: Any) -> None:
    """A 400 to the empty body means the credentials were taken: check() passes."""
    built, _ = gateway((400, {}, {}))
    built.check()


def test_check_reports_an_unreachable_provider(gateway: Any, free_port: int) -> None:
    """check() raises when nothing answers at the URL."""
    built, _ = gateway(url=f"http://127.0.0.1:{free_port}/send")
    with pytest.raises(HttpGatewayError, match="did not answer"):
        built.check()


@pytest.mark.parametrize(("options", "named"), [
    pytest.param({"body": '{"to": "{to}"'}, "body is not valid JSON", id="json"),
    pytest.param({"body": {"to": "{phone}"}}, "unknown placeholder {phone}", id="placeholder"),
    pytest.param({"auth": "basic", "password": "p"}, "auth = basic needs username",
                 id="basic-without-username"),
    pytest.param({"url": "ftp://sms.example/send"}, "must be an http(s) URL", id="scheme"),
    pytest.param({"body": {"key": "{token}"}}, "body uses {token} but token is not set",
                 id="credential-unset"),
    pytest.param({"accept_field": "status"}, "accept_field and accept_value go together",
                 id="accept-field-alone"),
    pytest.param({"report_id_field": "id"}, "need report_status_field too",
                 id="reports-in-part"),
])
def test_settings_it_cannot_work_with_stop_the_start(options: dict[str, Any],
                                                     named: str) -> None:
    """Building the http kind refuses the settings with an error naming the option."""
    raw = {"url": "https://sms.example/send", "body": BODY, **options}
    with pytest.raises(ConfigError, match=named.replace("{", r"\{").replace("(", r"\(")
                       .replace(")", r"\)")):
        gateway_spec("sms", "http", {key: (value, key) for key, value in raw.items()},
                     lambda option: option).build()


def test_a_route_goes_on_after_a_500_and_the_next_gateway_takes_it(gateway: Any) -> None:
    """In a route, a 500 (the message may have reached the provider) is not tried again on
    that gateway, and the next gateway of the route takes it: the price of failover
    (docs/gateways.md) is at most one copy per gateway."""
    first, first_provider = gateway((500, {}, {}), id_field="id")
    second, second_provider = gateway((201, {"id": "p-2"}, {}), id_field="id")
    routed = RoutedGateway({"first": first, "second": second},
                           [Route("default", ("first", "second"))])
    accepted = routed.send(MESSAGE)
    assert accepted is not None and accepted.provider_id == "p-2"
    assert (len(first_provider.bodies), len(second_provider.bodies)) == (1, 1)
