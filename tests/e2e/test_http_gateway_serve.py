"""The worked configurations of docs/gateways/http.md through a real `tfa serve`: the
page's TOML block is the settings file (only the provider's origin pointed at a local fake
and this service's at the server), the fakes of Twilio, Vonage and Infobip answer as those
providers document, and post their delivery reports back to the server over HTTP.

Each provider's server is started once for its tests; every wait is bounded, and the
server, the fakes and the callback receiver are stopped in a ``finally``.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from http_gateway_doc import ORIGINS, SECRET, SERVICE, doc_block, doc_gateway
from http_providers import (
    DELIVERED,
    FAKES,
    PROVIDERS,
    UNDELIVERED,
    expected_request,
    fields_of,
    sent_number,
    text_of,
)
from loopback import free_port, serve_in_thread, stop_in_thread
from tfa_processes import (
    COMMAND_TIMEOUT,
    TfaProcess,
    create_token_json,
    local_environ,
    tfa_command,
)

from tfa_engine import catalogue

pytestmark = pytest.mark.network

UK = "+447911123456"
HTTP_TIMEOUT = 15.0  # one exchange; above the gateway's 10 s deadline
CALLBACK_TIMEOUT = 10.0  # seconds for an expected callback


class CallbackReceiver:
    """A WSGI app taking the service's callbacks: keeps each JSON body, answers 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: list[Any] = []

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self._lock:
            self._bodies.append(json.loads(body))
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    def sms_status(self, message_id: str, timeout: float = CALLBACK_TIMEOUT) -> str:
        """The status of the SMS callback for ``message_id``, once it came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [data["status"] for body in self._bodies for data in body["data"]
                         if data["type"] == "SMS" and data["message_id"] == message_id]
            if found:
                return str(found[-1])
            time.sleep(0.05)
        raise AssertionError(f"no SMS callback for {message_id} within {timeout}s")


@dataclass
class Served:
    """`tfa serve` on one provider's page configuration."""

    provider: str
    fake: Any
    process: TfaProcess
    token: str
    callbacks: CallbackReceiver
    callback_url: str

    def request(self, client_ref: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        """POST /1/2fa for UK: the HTTP status and the decoded envelope."""
        body = json.dumps({"client_ref": client_ref, "phone_number": UK, **fields})
        address = urlsplit(self.process.base_url)
        connection = http.client.HTTPConnection(address.hostname or "", address.port,
                                                timeout=HTTP_TIMEOUT)
        try:
            connection.request("POST", "/1/2fa", body, {
                "Authorization": f"Token {self.token}", "Content-Type": "application/json"})
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            connection.close()

    def sent(self, client_ref: str, **fields: Any) -> str:
        """Request a code that must be sent; its message_id."""
        status, envelope = self.request(client_ref, **fields)
        assert status == 201, envelope
        return str(envelope["result"]["message_id"])

    def last_fields(self) -> Any:
        """The fields of the last request the provider received."""
        return fields_of(self.provider, self.fake.received[-1])


@pytest.fixture(scope="module", params=PROVIDERS)
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Each provider in turn: its fake, a callback receiver and `tfa serve` on the page's
    settings block for it."""
    provider: str = request.param
    workdir = tmp_path_factory.mktemp(provider)
    fake = FAKES[provider](doc_gateway(provider))
    callbacks = CallbackReceiver()
    servers = [serve_in_thread(fake), serve_in_thread(callbacks)]
    process: TfaProcess | None = None
    try:
        service = f"http://127.0.0.1:{free_port()}"
        settings = workdir / "tfa.toml"
        settings.write_text(doc_block(provider, {ORIGINS[provider]: servers[0][2],
                                                 SERVICE: service}), encoding="utf-8")
        env = local_environ(workdir, TFA_CONFIG=str(settings), TFA_DLR_SECRET=SECRET,
                            TFA_CALLBACK_KEY="e2e-callback-signing-key-0123456789",
                            TFA_CALLBACK_ALLOW_PRIVATE="true")
        del env["TFA_GATEWAY"]  # the file's [[gateways]] table is the gateway
        token = create_token_json(workdir, env, "shop")["token"]
        process = TfaProcess.announced(
            [*tfa_command(), "serve", "--host", "127.0.0.1",
             "--port", str(urlsplit(service).port)], cwd=workdir, env=env)
        yield Served(provider, fake, process, token, callbacks, f"{servers[1][2]}/cb")
    finally:
        if process is not None:
            process.stop()
        for server, thread, _ in servers:
            stop_in_thread(server, thread)


def test_request_reaches_the_provider_in_its_documented_shape(served: Served) -> None:
    """A code request is 201 and the provider received exactly its documented fields."""
    message_id = served.sent("shape")
    fields = served.last_fields()
    text = text_of(served.provider, fields)
    assert re.fullmatch(r"Your authentication code is: [0-9]{6}", text)
    assert fields == expected_request(served.provider, served.process.base_url, UK, text,
                                      message_id)


def test_provider_refusal_is_65_and_frees_the_client_ref(served: Served) -> None:
    """A number the provider refuses is -65; the same client_ref is sent once allowed."""
    served.fake.refused.add(sent_number(served.provider, UK))
    try:
        status, envelope = served.request("refused")
    finally:
        served.fake.refused.clear()
    assert (status, envelope["result_info"]["status_code"]) == (
        catalogue.SYSTEM_ERROR.http, catalogue.SYSTEM_ERROR.code)
    assert served.request("refused")[0] == 201


@pytest.mark.parametrize(("words", "status"), [(DELIVERED, "DELIVRD"),
                                               (UNDELIVERED, "UNDELIV")])
def test_provider_report_is_the_codes_sms_callback(
    served: Served, words: dict[str, str], status: str
) -> None:
    """The provider's report, posted to the server, is the status of the SMS callback."""
    message_id = served.sent(f"report-{status}", callback_url=served.callback_url)
    provider_id = list(served.fake.messages)[-1]
    answer = served.fake.report(provider_id, words[served.provider])
    assert (answer[0], json.loads(answer[1])) == (200, {"accepted": 1})
    assert served.callbacks.sms_status(message_id) == status


def test_text_with_quote_and_backslash_reaches_the_provider_intact(served: Served) -> None:
    """A template holding ", \\ and a placeholder's name arrives exactly as written."""
    served.sent("quotes", message_template='Say "hi" \\ {password}: {#TFA_CODE}')
    text = text_of(served.provider, served.last_fields())
    assert re.fullmatch(r'Say "hi" \\ \{password\}: [0-9]{6}', text)


def test_serve_refuses_to_start_on_an_unknown_placeholder(tmp_path: Path) -> None:
    """A body template with {phone} stops `tfa serve` at start-up, naming gateway and body."""
    settings = tmp_path / "tfa.toml"
    settings.write_text('[[gateways]]\nname = "sms"\ntype = "http"\n'
                        'url = "https://sms.example/send"\nbody = { to = "{phone}" }\n',
                        encoding="utf-8")
    env = local_environ(tmp_path, TFA_CONFIG=str(settings))
    del env["TFA_GATEWAY"]
    done = subprocess.run([*tfa_command(), "serve", "--host", "127.0.0.1", "--port", "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode == 2
    assert "http gateway 'sms': body has an unknown placeholder {phone}" in done.stderr
