"""The simulator's browser inbox, over WSGI in-process: the page, its files, and the
delivery-report control (``POST /messages/{uuid}/report``). The page in a real browser
is tested in tests/browser."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from wsgi_in_process import run_wsgi

from tfa_engine.adapters.gateway_sim import MediariverSimulator

UK = "+447911123456"
DE = "+4915123456789"
DLR_URL = "http://127.0.0.1:9/1/dlr/secret"


def get(app: Any, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from ``app`` through ``wsgiref.validate``: status, headers, body."""
    return run_wsgi(app, "GET", path, b"", {})


def send(call: Any, *recipients: str, app: Any = None, uuid: str | None = "42") -> str:
    """Send one SMS to ``recipients`` (UK by default); the simulator's uuid for it."""
    item: dict[str, Any] = {"recipients": list(recipients) or [UK], "quality": "H",
                            "message": "Your authentication code is: 493027", "sender": "TFA"}
    if uuid is not None:
        item["uuid"] = uuid
    reply = call("POST", "/v2/send", json={"messages": [item]}, app=app)
    assert reply.status == 200, reply.body
    uuid_of_sim: str = reply.body["details"][0]["uuid"]
    return uuid_of_sim


def report(call: Any, uuid: str, body: Any, app: Any = None) -> Any:
    """POST /messages/{uuid}/report with the JSON ``body``."""
    return call("POST", f"/messages/{uuid}/report", json=body, auth=None, app=app)


@pytest.fixture
def answered() -> list[Any]:
    """The delivery report payloads ``reporting`` posted."""
    return []


@pytest.fixture
def reporting(answered: list[Any]) -> Iterator[MediariverSimulator]:
    """A simulator with a dlr_url whose receiver answers 200 to every report."""
    sim = MediariverSimulator(
        dlr_url=DLR_URL, post=lambda url, payload: answered.append(payload) or 200
    )
    try:
        yield sim
    finally:
        sim.close()


# -- the page ---------------------------------------------------------------------------


def test_page_is_html_that_may_run_only_its_own_files(sim: MediariverSimulator) -> None:
    """GET / is an HTML page whose policy allows no script, style or request elsewhere."""
    status, headers, body = get(sim, "/")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    policy = headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in policy
    page = body.decode("utf-8")
    assert '<script src="inbox.js"' in page and 'href="inbox.css"' in page
    assert "<title>SMS inbox" in page


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        pytest.param("/inbox.js", "text/javascript; charset=utf-8", id="script"),
        pytest.param("/inbox.css", "text/css; charset=utf-8", id="style"),
    ],
)
def test_page_files_are_served(sim: MediariverSimulator, path: str, content_type: str) -> None:
    """The page's script and style come from the simulator with their media types."""
    status, headers, body = get(sim, path)
    assert (status, headers["Content-Type"]) == (200, content_type)
    assert body


@pytest.mark.parametrize("path", ["/", "/inbox.js", "/inbox.css"])
def test_page_names_no_outside_address(sim: MediariverSimulator, path: str) -> None:
    """Neither the page nor its files load anything from another host (no CDN)."""
    assert not re.search(rb"(https?:)?//[a-z0-9]", get(sim, path)[2], re.I)


def test_page_tells_whether_reports_can_be_sent(sim: MediariverSimulator) -> None:
    """Without a dlr_url the page marks reports off; with one, on."""
    assert b'data-reports="off"' in get(sim, "/")[2]
    sim.dlr_url = DLR_URL
    assert b'data-reports="on"' in get(sim, "/")[2]


def test_other_methods_are_refused(call: Any) -> None:
    """POST / and GET on the report path are 405 with Allow, like every other path."""
    page = call("POST", "/", json={}, auth=None)
    assert (page.status, page.headers["Allow"]) == (405, "GET")
    control = call("GET", "/messages/x/report", auth=None)
    assert (control.status, control.headers["Allow"]) == (405, "POST")


# -- delivery reports in the list ---------------------------------------------------------


def test_a_message_has_no_report_before_one_is_posted(call: Any) -> None:
    """Without a dlr_url an entry of GET /messages carries no ``report``."""
    send(call)
    (entry,) = call("GET", "/messages", auth=None).body
    assert "report" not in entry


def test_automatic_report_shows_with_the_receivers_answer(
    call: Any, reporting: MediariverSimulator
) -> None:
    """Once the automatic report went out, the entry shows its status, date and answer."""
    send(call, app=reporting)
    assert reporting.drain(5)
    (entry,) = call("GET", "/messages", auth=None, app=reporting).body
    assert entry["report"]["delivery_status"] == "DELIVRD"
    assert entry["report"]["answer"] == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["report"]["delivery_date"])


def test_a_failed_report_shows_why(call: Any) -> None:
    """A report whose post failed shows the failure as its answer."""

    def refuse(url: str, payload: Any) -> None:
        raise ConnectionRefusedError("receiver down")

    sim = MediariverSimulator(dlr_url=DLR_URL, post=refuse)
    try:
        send(call, app=sim)
        assert sim.drain(5)
        (entry,) = sim.messages
    finally:
        sim.close()
    assert entry["report"]["answer"] == "ConnectionRefusedError: receiver down"


def test_clearing_forgets_reports(call: Any, reporting: MediariverSimulator) -> None:
    """After DELETE /messages, an SMS with the same uuid starts without a report."""
    send(call, app=reporting)
    assert reporting.drain(5)
    call("DELETE", "/messages", auth=None, app=reporting)
    reporting.dlr_url = None
    send(call, app=reporting)
    (entry,) = reporting.messages
    assert "report" not in entry


# -- the report control -------------------------------------------------------------------


def test_report_control_posts_the_chosen_status(
    call: Any, reporting: MediariverSimulator, answered: list[Any]
) -> None:
    """POST /messages/{uuid}/report posts that status to the dlr_url and the list shows it."""
    uuid = send(call, app=reporting)
    assert reporting.drain(5)
    reply = report(call, uuid, {"delivery_status": "UNDELIV"}, app=reporting)
    assert (reply.status, reply.body) == (202, {"scheduled": 1})
    assert reporting.drain(5)
    assert [(p["delivery_status"], p["uuid"], p["msisdn"]) for p in answered] == [
        ("DELIVRD", "42", UK), ("UNDELIV", "42", UK)]
    (entry,) = reporting.messages
    assert (entry["report"]["delivery_status"], entry["report"]["answer"]) == ("UNDELIV", 200)


def test_report_uses_the_simulators_uuid_without_a_customer_uuid(
    call: Any, reporting: MediariverSimulator, answered: list[Any]
) -> None:
    """For an SMS sent without a uuid, the report carries the simulator's own."""
    uuid = send(call, app=reporting, uuid=None)
    assert report(call, uuid, {"delivery_status": "EXPIRED"}, app=reporting).status == 202
    assert reporting.drain(5)
    assert answered[-1]["uuid"] == uuid
    assert reporting.messages[0]["report"]["delivery_status"] == "EXPIRED"


def test_report_can_name_one_recipient(
    call: Any, reporting: MediariverSimulator, answered: list[Any]
) -> None:
    """With ``recipient``, only that recipient's SMS gets the report; without, each does."""
    uuid = send(call, UK, DE, app=reporting)
    assert reporting.drain(5)
    answered.clear()
    one = report(call, uuid, {"delivery_status": "REJECTD", "recipient": DE}, app=reporting)
    assert one.body == {"scheduled": 1}
    assert reporting.drain(5)
    assert [(p["msisdn"], p["delivery_status"]) for p in answered] == [(DE, "REJECTD")]
    statuses = {e["recipient"]: e["report"]["delivery_status"] for e in reporting.messages}
    assert statuses == {UK: "DELIVRD", DE: "REJECTD"}
    both = report(call, uuid, {"delivery_status": "UNKNOWN"}, app=reporting)
    assert both.body == {"scheduled": 2}


@pytest.mark.parametrize(
    ("body", "location"),
    [
        pytest.param({"delivery_status": "GONE"}, "/delivery_status", id="unknown-status"),
        pytest.param({}, "", id="no-status"),
        pytest.param(["UNDELIV"], "", id="not-an-object"),
        pytest.param({"delivery_status": "UNDELIV", "recipient": 447911123456}, "/recipient",
                     id="recipient-not-a-string"),
    ],
)
def test_malformed_report_requests_are_400(
    call: Any, reporting: MediariverSimulator, body: Any, location: str
) -> None:
    """A body that names no known status (or a bad recipient) is 400 with its location."""
    uuid = send(call, app=reporting)
    reply = report(call, uuid, body, app=reporting)
    assert reply.status == 400
    assert [e["location"] for e in reply.body["errors"]] == [location]


def test_unknown_message_is_404(call: Any, reporting: MediariverSimulator) -> None:
    """A uuid the simulator never gave out is 404."""
    assert report(call, "nope", {"delivery_status": "UNDELIV"}, app=reporting).status == 404


def test_no_reports_without_a_dlr_url(call: Any, sim: MediariverSimulator) -> None:
    """Without a dlr_url the control is 409 and says how to switch reports on."""
    uuid = send(call)
    reply = report(call, uuid, {"delivery_status": "UNDELIV"})
    assert reply.status == 409
    assert "--dlr-url" in reply.body["errors"][0]["message"]
    assert sim.pending_reports == 0


def test_report_control_takes_json_only(sim: MediariverSimulator) -> None:
    """A form post (not application/json, so no CORS preflight) is refused with 415."""
    sim.dlr_url = DLR_URL
    body = b'{"delivery_status": "UNDELIV"}'
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/messages/x/report",
        "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    started: list[str] = []
    sim(environ, lambda status, headers: started.append(status))
    assert started == ["415 Unsupported Media Type"]
    assert sim.pending_reports == 0
