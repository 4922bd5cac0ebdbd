"""The simulator's inbox in headless Chromium, fed by a real `tfa serve`.

`tfa gateway-sim` and `tfa serve` (TFA_GATEWAY=mediariver, pointed at the simulator) run
as processes on 127.0.0.1; the simulator posts its delivery reports to the service's
``/1/dlr/{secret}``. Codes are requested over HTTP and the tests read the inbox as a person
would: what the page shows after its script ran, and what a click on its control does.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from chromium import Page
from loopback import free_port
from tfa_processes import TfaProcess, clean_environ, create_token_json, tfa_command

pytestmark = pytest.mark.network

PHONE = "+447911123456"
OTHER_PHONE = "+447911123457"
MARKUP_PHONE = "+447911123458"
DLR_SECRET = "inbox-dlr-secret"
GATEWAY_USER, GATEWAY_PASSWORD = "inbox", "inbox-gateway-pass"
CODE = re.compile(r"code is: (\d{6})$")
HTTP_TIMEOUT = 15.0
WAIT = 15.0  # seconds for the simulator or the page to show something


@dataclass(frozen=True)
class Services:
    """The running simulator and service, and a token of the service."""

    sim_url: str
    serve_url: str
    token: str

    def call(self, url: str, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One JSON exchange with ``url`` (simulator or service)."""
        address = urlsplit(url)
        assert address.hostname == "127.0.0.1" and address.port
        connection = http.client.HTTPConnection(address.hostname, address.port,
                                                timeout=HTTP_TIMEOUT)
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=data, headers={
                "Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def request_code(self, client_ref: str, phone: str = PHONE, **fields: Any) -> str:
        """Ask the service for a code; its message_id."""
        status, body = self.call(self.serve_url, "POST", "/1/2fa",
                                 {"client_ref": client_ref, "phone_number": phone, **fields},
                                 {"Authorization": f"Token {self.token}"})
        assert status == 201, body
        message_id: str = body["result"]["message_id"]
        return message_id

    def validate(self, client_ref: str, code: str) -> int:
        """The service's status_code for ``code``."""
        _, body = self.call(self.serve_url, "POST", f"/1/2fa/{client_ref}/{code}", None,
                            {"Authorization": f"Token {self.token}"})
        status_code: int = body["result_info"]["status_code"]
        return status_code

    def received(self, message_id: str) -> dict[str, Any]:
        """The simulator's entry for the SMS the service sent as ``message_id``."""
        _, listed = self.call(self.sim_url, "GET", "/messages")
        (entry,) = [item for item in listed if item["customer_uuid"] == message_id]
        return dict(entry)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """`tfa gateway-sim` and `tfa serve` sending through it; both stopped afterwards."""
    workdir = tmp_path_factory.mktemp("inbox")
    serve_port = free_port()
    env = clean_environ()
    env.update(TFA_DATABASE=str(workdir / "tfa.db"), TFA_ARGON2_PROFILE="test",
               PYTHONUNBUFFERED="1")
    with ExitStack() as stack:
        sim = TfaProcess.announced(
            [*tfa_command(), "gateway-sim", "--host", "127.0.0.1", "--port", "0",
             "--dlr-url", f"http://127.0.0.1:{serve_port}/1/dlr/{DLR_SECRET}",
             "--username", GATEWAY_USER, "--password", GATEWAY_PASSWORD],
            cwd=workdir, env=env, name="tfa gateway-sim",
            pattern=r"mediariver simulator on (http://\S+)",
        )
        stack.callback(sim.stop)
        env.update(TFA_GATEWAY="mediariver", TFA_MEDIARIVER_URL=sim.base_url,
                   TFA_MEDIARIVER_USERNAME=GATEWAY_USER, TFA_MEDIARIVER_PASSWORD=GATEWAY_PASSWORD,
                   TFA_DLR_SECRET=DLR_SECRET)
        token: str = create_token_json(workdir, env, "inbox")["token"]
        serve = TfaProcess.announced(
            [*tfa_command(), "serve", "--host", "127.0.0.1", "--port", str(serve_port)],
            cwd=workdir, env=env,
        )
        stack.callback(serve.stop)
        yield Services(sim.base_url, serve.base_url, token)


def row_of(page: Page, uuid: str, wanted: str = "true") -> dict[str, Any]:
    """What the inbox row of the SMS ``uuid`` shows, once the JavaScript condition
    ``wanted`` (on ``cells``, the row's texts by column) holds."""
    script = f"""(() => {{
        const uuid = CSS.escape({json.dumps(uuid)});
        const row = document.querySelector('tr[data-uuid="' + uuid + '"]');
        if (!row) return null;
        const cells = {{}};
        for (const name of ["received", "recipient", "sender", "text", "parts", "delivery"]) {{
            cells[name] = row.querySelector("td." + name).textContent;
        }}
        cells.status = row.querySelector(".status").textContent;
        cells.detail = row.querySelector(".detail").textContent;
        return ({wanted}) ? cells : null;
    }})()"""
    shown: dict[str, Any] = page.wait_for(script, f"the SMS {uuid} in the inbox ({wanted})", WAIT)
    return shown


def row_order(page: Page) -> list[str]:
    """The uuids of the inbox rows, top to bottom."""
    order: list[str] = page.evaluate(
        "[...document.querySelectorAll('#messages tr')].map(row => row.dataset.uuid)")
    return order


def wait_for_entry(services: Services, message_id: str, wanted: str) -> dict[str, Any]:
    """The simulator's entry for ``message_id`` once its JSON contains ``wanted``."""
    deadline = time.monotonic() + WAIT
    while True:
        entry = services.received(message_id)
        if wanted in json.dumps(entry) or time.monotonic() > deadline:
            return entry
        time.sleep(0.1)


def test_a_code_sent_by_the_service_appears_in_the_open_inbox(
    services: Services, page: Page
) -> None:
    """An open inbox shows a new SMS by itself, newest first, with the very code that
    the service then accepts."""
    first = services.received(services.request_code("inbox-first"))
    page.goto(services.sim_url + "/")
    row_of(page, first["uuid"])

    message_id = services.request_code("inbox-new", OTHER_PHONE)  # the page stays open
    entry = services.received(message_id)
    code = CODE.search(entry["message"])
    assert code is not None, entry["message"]
    shown = row_of(page, entry["uuid"], f"cells.text.includes({json.dumps(code[1])})")
    assert (shown["recipient"], shown["sender"], shown["text"], shown["parts"]) == (
        OTHER_PHONE, "TFA", f"Your authentication code is: {code[1]}", "1")
    assert shown["received"] == entry["received_at"].replace("T", " ")[:19]
    order = row_order(page)
    assert order.index(entry["uuid"]) < order.index(first["uuid"])
    assert services.validate("inbox-new", code[1]) == 0
    assert page.errors() == []


def test_the_report_control_changes_the_delivery_status(
    services: Services, page: Page, artifacts: Path
) -> None:
    """Choosing UNDELIV and pressing "Send report" makes the simulator post that report to
    the service, and the row shows UNDELIV and the service's answer."""
    entry = services.received(services.request_code("inbox-report"))
    page.goto(services.sim_url + "/")
    delivered = row_of(page, entry["uuid"], "cells.status === 'DELIVRD'")
    assert delivered["detail"].startswith("HTTP 200 · ")  # the automatic report, accepted

    row = f'tr[data-uuid="{entry["uuid"]}"]'
    page.evaluate(f"""(() => {{
        const select = document.querySelector({json.dumps(row + " select")});
        select.value = "UNDELIV";
        select.dispatchEvent(new Event("change", {{bubbles: true}}));
    }})()""")
    page.click(row + " button.send-report")
    reported = row_of(page, entry["uuid"], "cells.status === 'UNDELIV'")
    assert reported["detail"].startswith("HTTP 200 · ")
    assert wait_for_entry(services, entry["customer_uuid"], "UNDELIV")["report"] == {
        "delivery_status": "UNDELIV", "delivery_date": reported["detail"].split(" · ")[1],
        "answer": 200}
    assert page.errors() == []
    shot = page.screenshot(artifacts / "inbox.png")
    assert shot.stat().st_size > 1000


def test_message_text_is_shown_as_text_never_as_markup(services: Services, page: Page) -> None:
    """A message template holding HTML shows as those characters; no element is made."""
    template = "<img src=x onerror=alert(1)><b>bold</b> {#TFA_CODE}"
    message_id = services.request_code("inbox-markup", MARKUP_PHONE, message_template=template)
    entry = services.received(message_id)
    page.goto(services.sim_url + "/")
    shown = row_of(page, entry["uuid"])
    assert shown["text"] == entry["message"]
    assert shown["text"].startswith("<img src=x onerror=alert(1)><b>bold</b> ")
    made = page.evaluate("document.querySelectorAll('#messages img, #messages b').length")
    assert made == 0


def test_the_inbox_stays_readable_in_a_phone_sized_window(
    services: Services, page: Page, artifacts: Path
) -> None:
    """At 480 px wide the message keeps a readable width (its whole text on a few lines,
    not two characters a line) and the page needs no sideways scrolling."""
    entry = services.received(services.request_code("inbox-narrow", MARKUP_PHONE))
    page.send("Emulation.setDeviceMetricsOverride",
              {"width": 480, "height": 900, "deviceScaleFactor": 1, "mobile": True})
    page.goto(services.sim_url + "/")
    row_of(page, entry["uuid"])
    uuid = json.dumps(entry["uuid"])
    shown = page.evaluate(f"""(() => {{
        const row = document.querySelector('tr[data-uuid="' + CSS.escape({uuid}) + '"]');
        const text = row.querySelector("td.text");
        const line = parseFloat(getComputedStyle(text).lineHeight);
        return {{width: text.getBoundingClientRect().width,
                 lines: Math.round(text.scrollHeight / line),
                 scroll: document.documentElement.scrollWidth,
                 view: document.documentElement.clientWidth}};
    }})()""")
    page.screenshot(artifacts / "inbox-480.png")
    assert shown["scroll"] <= shown["view"], shown
    assert shown["width"] >= 300, shown
    assert shown["lines"] <= 3, shown
