"""The worked configurations of docs/gateways/http.md, as written there, against fakes of
Twilio's, Vonage's and Infobip's APIs: the gateway the settings build sends what the
provider documents, a refusal is -65, and the provider's delivery reports, posted over
HTTP to the app's /1/delivery/{gateway}, reach the code's callback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from http_gateway_doc import ORIGINS, SECRET, SERVICE, doc_gateway
from http_providers import (
    DELIVERED,
    FAKES,
    PROVIDERS,
    UNDELIVERED,
    expected_request,
    sent_number,
    text_of,
)
from loopback import serve_in_thread, stop_in_thread

from tfa_engine import Engine, EngineConfig, SQLiteStore, catalogue
from tfa_engine.adapters.falcon import create_app
from tfa_engine.adapters.server.gateway_kinds import gateway_spec
from tfa_engine.adapters.server.http_kind import http_reports

pytestmark = pytest.mark.network

UK = "+447911123456"
PUBLIC_IP = "93.184.216.34"
CALLBACK_URL = "https://client.example/cb"


class Holder:
    """A WSGI app served before the app it stands for exists (its URL goes in the
    gateway's settings)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class Callbacks:
    """Stands in for the network of the callbacks: records each one posted."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def __call__(self, scheme: str, port: int, address: str, host: str, target: str,
                 body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.bodies.append(json.loads(body))
        return 200

    def statuses(self, kind: str) -> list[str]:
        """The status of each callback of ``kind`` (INTERNAL, SMS) so far."""
        return [data["status"] for body in self.bodies for data in body["data"]
                if data["type"] == kind]


@dataclass
class World:
    """A provider's fake, an engine sending through the page's configuration, and the
    app serving its delivery reports."""

    name: str
    fake: Any
    engine: Engine
    token: str
    app_url: str
    callbacks: Callbacks

    def request(self, client_ref: str, **fields: Any) -> catalogue.Status:
        """Request a code for ``UK``; the answer's status."""
        body = json.dumps({"client_ref": client_ref, "phone_number": UK, **fields})
        outcome = self.engine.request_code(self.token, "127.0.0.1", body.encode(),
                                           content_type="application/json")
        return outcome.status

    def provider_id(self) -> str:
        """The provider's id of the only message it took."""
        (found,) = self.fake.messages
        return str(found)


@pytest.fixture(params=PROVIDERS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """Each provider in turn, its fake and the app served on 127.0.0.1."""
    name: str = request.param
    fake = FAKES[name](doc_gateway(name))
    holder = Holder()
    servers = [serve_in_thread(fake), serve_in_thread(holder)]
    (_, _, fake_url), (_, _, app_url) = servers
    table = doc_gateway(name, {ORIGINS[name]: fake_url, SERVICE: app_url})
    raw = {key: (value, "docs") for key, value in table.items() if key not in ("name", "type")}
    spec = gateway_spec(name, "http", raw, lambda option: option)
    reports = http_reports(name, spec.options)
    assert reports is not None
    callbacks = Callbacks()
    engine = Engine(SQLiteStore(tmp_path / "tfa.db"), spec.build(),
                    EngineConfig(argon2_profile="test", dlr_secret=SECRET,
                                 callback_key="k" * 32),
                    resolver=lambda host, port: [PUBLIC_IP])
    engine.callbacks.transport = callbacks
    holder.app = create_app(engine, gateway_reports={name: reports}, access_log=False)
    try:
        yield World(name, fake, engine, engine.create_token("shop").token, app_url,
                    callbacks)
    finally:
        for server, thread, _ in servers:
            stop_in_thread(server, thread)
        engine.close()
        engine.store.close()


def fields_of(world: World) -> Any:
    """The fields of the only request the fake received, as the provider reads them."""
    (received,) = world.fake.received
    return received.form() if world.name == "twilio" else received.json()


def test_request_has_the_providers_documented_shape(world: World) -> None:
    """A code request is 201 and the provider received exactly its documented fields."""
    assert world.request("ref-1") == catalogue.SUCCESS
    fields = fields_of(world)
    text = text_of(world.name, fields)
    assert re.fullmatch(r"Your authentication code is: [0-9]{6}", text)
    (stored,) = world.fake.messages.values()
    message_id = stored.get("client-ref", "")
    assert fields == expected_request(world.name, world.app_url, UK, text, message_id)


def test_refusal_is_65_and_frees_the_client_ref(world: World) -> None:
    """A number the provider refuses answers -65; the client_ref then sends once allowed."""
    world.fake.refused.add(sent_number(world.name, UK))
    assert world.request("ref-1") == catalogue.SYSTEM_ERROR
    world.fake.refused.clear()
    assert world.request("ref-1") == catalogue.SUCCESS


@pytest.mark.parametrize(("words", "status"), [(DELIVERED, "DELIVRD"),
                                               (UNDELIVERED, "UNDELIV")])
def test_provider_report_reaches_the_codes_callback(
    world: World, words: dict[str, str], status: str
) -> None:
    """The provider's report, posted to its webhook URL, is the SMS callback's status."""
    assert world.request("ref-1", callback_url=CALLBACK_URL) == catalogue.SUCCESS
    answer = world.fake.report(world.provider_id(), words[world.name])
    world.engine.callbacks.run_once()
    assert (answer, world.callbacks.statuses("SMS")) == ((200, b'{"accepted":1}'), [status])


def test_text_with_quote_and_backslash_arrives_intact(world: World) -> None:
    """A text holding ", \\ and a placeholder's name reaches the provider as written."""
    template = 'Say "hi" \\ {password}: {#TFA_CODE}'
    assert world.request("ref-1", message_template=template) == catalogue.SUCCESS
    text = text_of(world.name, fields_of(world))
    assert re.fullmatch(r'Say "hi" \\ \{password\}: [0-9]{6}', text)
