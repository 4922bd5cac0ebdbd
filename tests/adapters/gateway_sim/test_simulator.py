"""The mediariver simulator, called as a WSGI app: what a client of mediariver would see."""

from __future__ import annotations

import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from tfa_engine.adapters.gateway_sim import Faults, MediariverSimulator
from tfa_engine.adapters.gateway_sim.validation import validate

UK = "+447911123456"
DE = "+4915123456789"
START = 1_700_000_000.0  # the parent conftest's FakeClock start


def item(**changes: Any) -> dict[str, Any]:
    """One valid ``messages`` element with ``changes`` applied (None removes a key)."""
    base: dict[str, Any] = {
        "recipients": [UK],
        "quality": "H",
        "message": "Your code: 123456",
        "sender": "TFA",
        "uuid": "10000000000000000001",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def send(call: Any, *items: dict[str, Any], **options: Any) -> Any:
    """POST /v2/send with these message elements (one valid one by default)."""
    return call("POST", "/v2/send", json={"messages": list(items) or [item()]}, **options)


# -- authentication ------------------------------------------------------------------------


def test_missing_credentials_are_refused(call: Any) -> None:
    """No Authorization header: 401 'No credentials provided', with no location."""
    reply = send(call, auth=None)
    assert (reply.status, reply.body) == (401, {"errors": [{"message": "No credentials provided"}]})
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    ("auth", "text"),
    [
        pytest.param(("sim", "wrong"), "Credentials rejected", id="wrong-password"),
        pytest.param(("someone", "sim"), "Credentials rejected", id="wrong-user"),
        pytest.param("Basic !!not-base64!!", "Credentials rejected", id="not-base64"),
        pytest.param("Bearer abc", "No credentials provided", id="not-basic"),
        pytest.param("Basic ", "No credentials provided", id="empty-basic"),
    ],
)
def test_bad_credentials_are_refused(call: Any, auth: Any, text: str) -> None:
    """Wrong or unreadable credentials get 401 with mediariver's text."""
    reply = send(call, auth=auth)
    assert (reply.status, reply.body) == (401, {"errors": [{"message": text}]})


def test_refused_credentials_queue_nothing(call: Any, sim: MediariverSimulator) -> None:
    """A 401 request leaves nothing in the inspection list."""
    send(call, auth=("sim", "wrong"))
    assert sim.messages == []


# -- validation ----------------------------------------------------------------------------

INVALID = [
    pytest.param({"messages": {}}, "/messages", "should be array", id="messages-not-array"),
    pytest.param(
        {"messages": []}, "/messages", "should NOT have fewer than 1 items", id="no-messages"
    ),
    pytest.param({"messages": ["x"]}, "/messages/0", "should be object", id="item-not-object"),
    pytest.param(
        {"messages": [item(recipients=None)]},
        "/messages/0",
        "should have required property 'recipients'",
        id="missing-recipients",
    ),
    pytest.param(
        {"messages": [item(quality=None, sender=None)]},
        "/messages/0",
        "should have required property 'quality'",
        id="missing-quality",
    ),
    pytest.param(
        {"messages": [item(message=None)]},
        "/messages/0",
        "should have required property 'message'",
        id="missing-message",
    ),
    pytest.param(
        {"messages": [item(recipients=UK)]},
        "/messages/0/recipients",
        "should be array",
        id="recipients-not-array",
    ),
    pytest.param(
        {"messages": [item(recipients=[])]},
        "/messages/0/recipients",
        "should NOT have fewer than 1 items",
        id="recipients-empty",
    ),
    pytest.param(
        {"messages": [item(recipients=[UK, "447911123456"])]},
        "/messages/0/recipients/1",
        'should match format "e164"',
        id="recipient-without-plus",
    ),
    pytest.param(
        {"messages": [item(recipients=["+44 7911 123456"])]},
        "/messages/0/recipients/0",
        'should match format "e164"',
        id="recipient-with-spaces",
    ),
    pytest.param(
        {"messages": [item(recipients=["+4479111234567890"])]},
        "/messages/0/recipients/0",
        'should match format "e164"',
        id="recipient-too-long",
    ),
    pytest.param(
        {"messages": [item(recipients=[447911123456])]},
        "/messages/0/recipients/0",
        "should be string",
        id="recipient-not-string",
    ),
    pytest.param(
        {"messages": [item(quality="X")]},
        "/messages/0/quality",
        "should be equal to one of the allowed values",
        id="quality-unknown",
    ),
    pytest.param(
        {"messages": [item(quality="h")]},
        "/messages/0/quality",
        "should be equal to one of the allowed values",
        id="quality-lower-case",
    ),
    pytest.param(
        {"messages": [item(message="")]},
        "/messages/0/message",
        "should NOT be shorter than 1 characters",
        id="message-empty",
    ),
    pytest.param(
        {"messages": [item(message="a" * 641)]},
        "/messages/0/message",
        "should NOT be longer than 640 characters",
        id="message-641",
    ),
    pytest.param(
        {"messages": [item(message=123456)]},
        "/messages/0/message",
        "should be string",
        id="message-not-string",
    ),
    pytest.param(
        {"messages": [item(sender="ABCDEFGHIJKL")]},
        "/messages/0/sender",
        "should NOT be longer than 11 characters",
        id="sender-12-alphanumeric",
    ),
    pytest.param(
        {"messages": [item(sender="1" * 17)]},
        "/messages/0/sender",
        "should NOT be longer than 16 characters",
        id="sender-17-digits",
    ),
    pytest.param(
        {"messages": [item(sender="Tést")]},
        "/messages/0/sender",
        'should match pattern "^[A-Za-z0-9 ]+$"',
        id="sender-not-ascii",
    ),
    pytest.param(
        {"messages": [item(sender="")]},
        "/messages/0/sender",
        "should NOT be shorter than 1 characters",
        id="sender-empty",
    ),
    pytest.param(
        {"messages": [item(sender=42)]},
        "/messages/0/sender",
        "should be string",
        id="sender-not-string",
    ),
    pytest.param(
        {"messages": [item(quality="S")]},
        "/messages/0/sender",
        "is allowed only with quality H",
        id="sender-with-quality-S",
    ),
    pytest.param(
        {"messages": [item(quality="A")]},
        "/messages/0/sender",
        "is allowed only with quality H",
        id="sender-with-quality-A",
    ),
    pytest.param(
        {"messages": [item(uuid=42)]},
        "/messages/0/uuid",
        "should be string",
        id="uuid-not-string",
    ),
    pytest.param(
        {"messages": [item(), item(quality="Z")]},
        "/messages/1/quality",
        "should be equal to one of the allowed values",
        id="second-message",
    ),
    pytest.param({}, "", "should have required property 'messages'", id="no-messages-key"),
    pytest.param([], "", "should be object", id="body-not-object"),
]


@pytest.mark.parametrize(("body", "location", "message"), INVALID)
def test_invalid_request_is_rejected_with_its_location(
    call: Any, body: Any, location: str, message: str
) -> None:
    """Each kind of invalid request gets 400 and one error naming where and what."""
    reply = call("POST", "/v2/send", json=body)
    assert reply.status == 400
    assert reply.body == {"errors": [{"location": location, "message": message}]}


def test_body_that_is_not_json_is_rejected(call: Any) -> None:
    """A body that does not parse gets 400 at the root location."""
    reply = call("POST", "/v2/send", raw=b'{"messages": [')
    assert reply.status == 400
    assert reply.body == {"errors": [{"location": "", "message": "should be valid JSON"}]}


def test_every_error_is_listed(call: Any) -> None:
    """All the problems of a request are reported together, in request order."""
    reply = send(call, item(quality="X"), item(recipients=["07911123456"], message=""))
    assert [error["location"] for error in reply.body["errors"]] == [
        "/messages/0/quality",
        "/messages/1/recipients/0",
        "/messages/1/message",
    ]


def test_one_bad_message_rejects_the_whole_request(
    call: Any, sim: MediariverSimulator, posted: list[Any]
) -> None:
    """A valid message next to an invalid one is not queued either."""
    sim.dlr_url = "http://127.0.0.1:1/dlr"
    reply = send(call, item(), item(quality="X"))
    assert reply.status == 400
    assert sim.messages == []
    assert sim.pending_reports == 0


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"message": "a" * 640}, id="message-640"),
        pytest.param({"sender": "ABCDEFGHIJK"}, id="sender-11-alphanumeric"),
        pytest.param({"sender": "Shop 24"}, id="sender-with-space"),
        pytest.param({"sender": "1" * 16}, id="sender-16-digits"),
        pytest.param({"sender": "+" + "1" * 16}, id="sender-16-digits-plus"),
        pytest.param({"quality": "S", "sender": None}, id="quality-S-no-sender"),
        pytest.param({"quality": "A", "sender": None}, id="quality-A-no-sender"),
        pytest.param({"sender": None, "uuid": None}, id="minimal"),
        pytest.param({"recipients": [UK, DE]}, id="two-recipients"),
    ],
)
def test_valid_request_is_queued(call: Any, changes: dict[str, Any]) -> None:
    """Requests at the limits of the rules are accepted."""
    reply = send(call, item(**changes))
    assert reply.status == 200, reply.body


def test_validate_accepts_a_valid_payload() -> None:
    """The validator alone finds nothing wrong with a good payload."""
    assert validate({"messages": [item()]}) == []


# -- the success answer ---------------------------------------------------------------------


def test_success_answer_has_the_documented_shape(call: Any) -> None:
    """A short message: total_queued and one detail with uuid, customer_uuid, queued, quality."""
    reply = send(call)
    assert reply.status == 200
    (detail,) = reply.body["details"]
    assert reply.body == {
        "total_queued": 1,
        "details": [
            {
                "uuid": detail["uuid"],
                "customer_uuid": "10000000000000000001",
                "queued": 1,
                "quality": "H",
            }
        ],
    }
    assert uuid.UUID(detail["uuid"]).version == 4


def test_customer_uuid_only_when_a_uuid_was_sent(call: Any) -> None:
    """Without a uuid in the request, the detail has no customer_uuid."""
    reply = send(call, item(uuid=None))
    assert "customer_uuid" not in reply.body["details"][0]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        pytest.param("a" * 160, None, id="160-gsm"),
        pytest.param("a" * 161, 2, id="161-gsm"),
        pytest.param("a" * 307, 3, id="307-gsm"),
        pytest.param("é" * 160, None, id="160-gsm-accented"),
        pytest.param("ж" * 100, None, id="100-ucs2-still-not-over-160"),
        pytest.param("ж" * 161, 3, id="161-ucs2"),
    ],
)
def test_parts_only_for_texts_over_160_characters(call: Any, text: str, parts: int | None) -> None:
    """total_parts and parts appear only for a message longer than 160 characters."""
    body = send(call, item(message=text)).body
    if parts is None:
        assert "total_parts" not in body
        assert "parts" not in body["details"][0]
    else:
        assert (body["total_parts"], body["details"][0]["parts"]) == (parts, parts)


def test_parts_count_every_recipient_and_every_message(call: Any) -> None:
    """With one long message, every detail has parts: per text times recipients."""
    body = send(call, item(message="a" * 161, recipients=[UK, DE]), item(message="short")).body
    assert body["total_queued"] == 3
    assert [(d["queued"], d["parts"]) for d in body["details"]] == [(2, 4), (1, 1)]
    assert body["total_parts"] == 5


def test_one_detail_per_message_in_order(call: Any) -> None:
    """Each message element gets its own detail and its own simulator uuid."""
    body = send(call, item(uuid="a"), item(uuid="b", quality="S", sender=None)).body
    details = body["details"]
    assert [(d["customer_uuid"], d["quality"]) for d in details] == [("a", "H"), ("b", "S")]
    assert details[0]["uuid"] != details[1]["uuid"]


# -- rate limit -----------------------------------------------------------------------------


def test_answers_carry_the_rate_limit_headers(call: Any, sim: MediariverSimulator) -> None:
    """A success says the limit, what is left, when the window resets, and no wait."""
    sim.rate_limit = (5, 10.0)
    reply = send(call, item(recipients=[UK, DE]))
    assert reply.headers["RateLimit-Limit"] == "5"
    assert reply.headers["RateLimit-Remaining"] == "3"
    assert reply.headers["RateLimit-Retry-After"] == "0"
    assert parsedate_to_datetime(reply.headers["RateLimit-Reset"]).timestamp() == START + 10


def test_over_the_limit_gets_429_with_the_wait_in_milliseconds(
    call: Any, sim: MediariverSimulator, clock: Any
) -> None:
    """Past the window's count: 429, nothing left, and the time to the window's end in ms."""
    sim.rate_limit = (2, 10.0)
    send(call, item(recipients=[UK, DE]))
    clock.advance(2.5)
    reply = send(call)
    assert reply.status == 429
    assert reply.headers["RateLimit-Retry-After"] == "7500"
    assert reply.headers["RateLimit-Remaining"] == "0"
    assert reply.body["errors"]


def test_the_limit_counts_recipients_not_requests(call: Any, sim: MediariverSimulator) -> None:
    """One request for more SMS than the limit allows is refused whole."""
    sim.rate_limit = (3, 1.0)
    reply = send(call, item(recipients=[UK, DE, "+33612345678", "+12015550123"]))
    assert reply.status == 429
    assert sim.messages == []


def test_the_window_resets(call: Any, sim: MediariverSimulator, clock: Any) -> None:
    """Once the window is over, the count starts again."""
    sim.rate_limit = (1, 1.0)
    send(call)
    assert send(call).status == 429
    clock.advance(1.0)
    assert send(call).status == 200


def test_rejected_requests_use_no_quota(call: Any, sim: MediariverSimulator) -> None:
    """A 400 does not count against the limit."""
    sim.rate_limit = (1, 60.0)
    send(call, item(quality="X"))
    assert send(call).status == 200


def test_no_limit_when_disabled(call: Any, sim: MediariverSimulator) -> None:
    """rate_limit=None never answers 429."""
    sim.rate_limit = None
    assert {send(call).status for _ in range(5)} == {200}


# -- inspection -----------------------------------------------------------------------------


def test_inspection_lists_what_was_received(call: Any) -> None:
    """GET /messages shows each SMS with its fields, one entry per recipient."""
    body = send(call, item(recipients=[UK, DE])).body
    listed = call("GET", "/messages", auth=None)
    assert listed.status == 200
    assert [entry["recipient"] for entry in listed.body] == [UK, DE]
    assert listed.body[0] == {
        "recipient": UK,
        "sender": "TFA",
        "message": "Your code: 123456",
        "uuid": body["details"][0]["uuid"],
        "customer_uuid": "10000000000000000001",
        "quality": "H",
        "parts": 1,
        "received_at": "2023-11-14T22:13:20.000Z",
    }


def test_inspection_shows_absent_sender_and_uuid_as_null(call: Any) -> None:
    """A message sent without sender or uuid lists them as null."""
    send(call, item(sender=None, uuid=None, quality="S"))
    (entry,) = call("GET", "/messages", auth=None).body
    assert (entry["sender"], entry["customer_uuid"]) == (None, None)


def test_delete_clears_the_inspection_list(call: Any, sim: MediariverSimulator) -> None:
    """DELETE /messages forgets every message."""
    send(call)
    assert call("DELETE", "/messages", auth=None).status == 200
    assert call("GET", "/messages", auth=None).body == []
    assert sim.messages == []


def test_messages_property_is_a_copy(call: Any, sim: MediariverSimulator) -> None:
    """Changing the returned entries does not change the simulator's list."""
    send(call)
    sim.messages[0]["recipient"] = "changed"
    assert sim.messages[0]["recipient"] == UK


# -- delivery reports -----------------------------------------------------------------------


def test_one_report_per_sms(call: Any, sim: MediariverSimulator, posted: list[Any]) -> None:
    """Each recipient gets its own report object, carrying the customer's uuid."""
    sim.dlr_url = "http://127.0.0.1:9/dlr"
    send(call, item(recipients=[UK, DE]))
    assert sim.drain(5)
    assert posted == [
        (
            "http://127.0.0.1:9/dlr",
            {
                "msisdn": number,
                "delivery_status": "DELIVRD",
                "delivery_date": "2023-11-14 22:13:20",
                "uuid": "10000000000000000001",
            },
        )
        for number in (UK, DE)
    ]


def test_report_uuid_is_the_simulators_without_a_customer_uuid(
    call: Any, sim: MediariverSimulator, posted: list[Any]
) -> None:
    """Without a uuid in the request, the report carries the simulator's uuid."""
    sim.dlr_url = "http://127.0.0.1:9/dlr"
    detail = send(call, item(uuid=None)).body["details"][0]
    assert sim.drain(5)
    assert posted[0][1]["uuid"] == detail["uuid"]


def test_batched_reports_come_as_one_array_per_request(
    call: Any, sim: MediariverSimulator, posted: list[Any]
) -> None:
    """With dlr_batch, one POST carries the reports of the whole request."""
    sim.dlr_url, sim.dlr_batch = "http://127.0.0.1:9/dlr", True
    send(call, item(recipients=[UK, DE]), item(recipients=["+33612345678"], uuid="x"))
    assert sim.drain(5)
    ((_, payload),) = posted
    assert [(r["msisdn"], r["uuid"]) for r in payload] == [
        (UK, "10000000000000000001"),
        (DE, "10000000000000000001"),
        ("+33612345678", "x"),
    ]


def test_report_statuses_cycle(call: Any, posted: list[Any]) -> None:
    """delivery_status takes the configured statuses in turn."""
    sim = MediariverSimulator(
        dlr_url="http://127.0.0.1:9/dlr",
        dlr_statuses=("DELIVRD", "UNDELIV", "EXPIRED"),
        post=lambda url, payload: posted.append(payload),
    )
    try:
        for _ in range(4):
            send(call, app=sim)
        assert sim.drain(5)
    finally:
        sim.close()
    assert [p["delivery_status"] for p in posted] == ["DELIVRD", "UNDELIV", "EXPIRED", "DELIVRD"]


def test_no_reports_without_a_dlr_url(
    call: Any, sim: MediariverSimulator, posted: list[Any]
) -> None:
    """Without dlr_url nothing is scheduled or posted."""
    send(call)
    assert sim.pending_reports == 0
    assert sim.drain(5)
    assert posted == []


def test_reports_wait_for_the_delay_and_close_drops_them(
    call: Any, sim: MediariverSimulator, posted: list[Any]
) -> None:
    """A report not yet due is not posted; close() stops the thread and drops it."""
    sim.dlr_url, sim.dlr_delay = "http://127.0.0.1:9/dlr", 3600.0
    send(call)
    assert not sim.drain(0.05)
    assert sim.pending_reports == 1
    sim.close()
    assert sim.pending_reports == 0
    assert posted == []


def test_a_failing_report_does_not_stop_later_ones(
    call: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A post that raises is logged and the next report still goes out."""
    tries: list[Any] = []
    delivered: list[Any] = []

    def flaky(url: str, payload: Any) -> None:
        tries.append(payload)
        if len(tries) == 1:
            raise OSError("receiver down")
        delivered.append(payload)

    sim = MediariverSimulator(dlr_url="http://127.0.0.1:9/dlr", post=flaky)
    try:
        send(call, app=sim)
        assert sim.drain(5)
        send(call, app=sim)
        assert sim.drain(5)
    finally:
        sim.close()
    assert len(delivered) == 1
    assert "delivery report" in caplog.text


# -- faults ---------------------------------------------------------------------------------


def test_fail_next_answers_the_status_then_recovers(call: Any, sim: MediariverSimulator) -> None:
    """fail_status is answered to the next fail_next requests, then service resumes."""
    sim.faults.fail_status, sim.faults.fail_next = 503, 2
    assert [send(call).status for _ in range(3)] == [503, 503, 200]
    assert len(sim.messages) == 1


def test_force_429_answers_429_with_the_set_wait(call: Any, sim: MediariverSimulator) -> None:
    """force_429 refuses the next requests with RateLimit-Retry-After = retry_after_ms."""
    sim.faults.force_429, sim.faults.retry_after_ms = 1, 250
    first = send(call)
    assert (first.status, first.headers["RateLimit-Retry-After"]) == (429, "250")
    assert send(call).status == 200


def test_hang_answers_503_and_queues_nothing(call: Any, sim: MediariverSimulator) -> None:
    """A hung request ends in 503 and nothing is queued."""
    sim.faults.hang = 0.01
    assert send(call).status == 503
    assert sim.messages == []


def test_latency_delays_the_answer(call: Any, sim: MediariverSimulator) -> None:
    """latency holds each answer for that long and then answers normally."""
    sim.faults.latency = 0.05
    started = time.monotonic()
    assert send(call).status == 200
    assert time.monotonic() - started >= 0.05


def test_close_releases_held_requests(call: Any, sim: MediariverSimulator) -> None:
    """After close() a long hang no longer holds the request."""
    sim.faults.hang = 3600.0
    sim.close()
    assert send(call).status == 503


def test_faults_can_be_set_over_http(call: Any, sim: MediariverSimulator) -> None:
    """POST /_faults changes the knobs and answers their new values."""
    reply = call("POST", "/_faults", json={"fail_status": 500, "fail_next": 1, "latency": 0})
    assert reply.status == 200
    assert reply.body == {**vars(Faults()), "fail_status": 500, "fail_next": 1}
    assert (sim.faults.fail_status, sim.faults.fail_next) == (500, 1)
    assert call("GET", "/_faults", auth=None).body == reply.body


def test_faults_reset(call: Any, sim: MediariverSimulator) -> None:
    """{"reset": true} switches every fault off."""
    sim.faults.force_429, sim.faults.latency = 3, 1.0
    reply = call("POST", "/_faults", json={"reset": True})
    assert reply.body == vars(Faults())
    assert sim.faults == Faults()


@pytest.mark.parametrize(
    ("body", "location"),
    [
        pytest.param({"latency": -1}, "/latency", id="negative-latency"),
        pytest.param({"hang": "long"}, "/hang", id="hang-not-number"),
        pytest.param({"fail_next": 1.5}, "/fail_next", id="fail-next-not-integer"),
        pytest.param({"fail_status": 200}, "/fail_status", id="fail-status-not-error"),
        pytest.param({"force_429": True}, "/force_429", id="force-429-boolean"),
        pytest.param({"retry_after_ms": -5}, "/retry_after_ms", id="negative-retry-after"),
        pytest.param({"explode": 1}, "/explode", id="unknown-fault"),
        pytest.param({"reset": "yes"}, "/reset", id="reset-not-boolean"),
        pytest.param([], "", id="not-an-object"),
    ],
)
def test_bad_fault_settings_are_refused(
    call: Any, sim: MediariverSimulator, body: Any, location: str
) -> None:
    """A bad fault setting gets 400 with its location, and nothing changes."""
    reply = call("POST", "/_faults", json={"fail_next": 7, **body} if body else body)
    assert reply.status == 400
    assert [error["location"] for error in reply.body["errors"]] == [location]
    assert sim.faults == Faults()


# -- routes and construction ----------------------------------------------------------------


def test_health(call: Any) -> None:
    """GET /health answers ok."""
    reply = call("GET", "/health", auth=None)
    assert (reply.status, reply.body) == (200, {"status": "ok"})


def test_unknown_path_is_a_json_404(call: Any) -> None:
    """Paths the simulator does not know get a JSON 404."""
    reply = call("POST", "/v1/send", auth=None)
    assert reply.status == 404
    assert reply.body == {"errors": [{"message": "not found"}]}


def test_wrong_method_is_a_405_with_allow(call: Any) -> None:
    """A known path with another method gets 405 and the Allow header."""
    reply = call("GET", "/v2/send")
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"dlr_statuses": ()}, id="no-statuses"),
        pytest.param({"dlr_statuses": ("DELIVERED",)}, id="unknown-status"),
        pytest.param({"dlr_delay": -1.0}, id="negative-delay"),
        pytest.param({"rate_limit": (0, 1.0)}, id="zero-count"),
        pytest.param({"rate_limit": (10, 0.0)}, id="zero-window"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any]) -> None:
    """The simulator refuses settings mediariver could not have."""
    with pytest.raises(ValueError):
        MediariverSimulator(**options)
