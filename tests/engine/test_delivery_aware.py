"""Delivery-aware sending, on every store: an SMS reported undelivered does not count against
the phone's sends and its phone's next code leaves through another gateway; a delivered one
counts as before; reports a gateway receives itself find their code by the provider's id,
even when they overtake the activation; the code records and the audit trail name the
gateway that took each SMS."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tfa_engine import Engine, EngineConfig, RateLimit, catalogue
from tfa_engine.gateways import (
    Accepted,
    DeliveryReport,
    MemoryGateway,
    Route,
    RoutedGateway,
    SmsMessage,
)
from tfa_engine.store import Store

PHONE = "+4915112345678"


class Desk:
    """An engine on ``store`` routing every message through gateways ``a`` then ``b``."""

    def __init__(self, store: Store, clock: Callable[[], float], sends: int = 1) -> None:
        self.a, self.b = MemoryGateway("a"), MemoryGateway("b")
        routes = RoutedGateway({"a": self.a, "b": self.b}, [Route("default", ("a", "b"))])
        config = EngineConfig(argon2_profile="test", limit_phone_sends=RateLimit(sends, 600))
        self.engine = Engine(store, routes, config, clock=clock, resolver=None)
        self.token = self.engine.create_token("shop").token
        self.clock = clock

    def request(self, client_ref: str) -> catalogue.Status:
        """POST /1/2fa for PHONE: the status the client gets."""
        outcome = self.engine.request_code(
            self.token, "127.0.0.1", {"client_ref": client_ref, "phone_number": PHONE})
        return outcome.status

    def message_id(self, client_ref: str) -> str:
        """The message_id of the code sent for ``client_ref``."""
        code = self.engine.store.find_code(self.engine.find_token("shop").id,  # type: ignore[union-attr]
                                           client_ref)
        assert code is not None
        return code.message_id

    def report(self, client_ref: str, status: str) -> int:
        """A mediariver delivery report for that code."""
        return self.engine.record_delivery_reports(
            {"msisdn": PHONE[1:], "delivery_status": status, "delivery_date": "2026-12-07",
             "uuid": self.message_id(client_ref)})


@pytest.fixture
def desk(store: Store, clock: Callable[[], float]) -> Desk:
    """One send per phone per 10 minutes, through gateways a then b."""
    return Desk(store, clock)


@pytest.mark.parametrize("status", ["UNDELIV", "REJECTD", "EXPIRED"])
def test_an_undelivered_sms_leaves_the_resend_free_and_through_the_next_gateway(
    desk: Desk, status: str
) -> None:
    """After the first SMS is reported undelivered, the resend inside the limit's window is
    201 and leaves through gateway b."""
    assert desk.request("first") == catalogue.SUCCESS
    assert desk.report("first", status) == 1
    assert desk.request("again") == catalogue.SUCCESS
    assert [len(desk.a.messages), len(desk.b.messages)] == [1, 1]


def test_a_delivered_sms_counts_against_the_phones_sends(desk: Desk) -> None:
    """A DELIVRD report changes nothing: the resend within the window is -70."""
    desk.request("first")
    desk.report("first", "DELIVRD")
    assert desk.request("again") == catalogue.RATE_LIMITED
    assert len(desk.b.messages) == 0


def test_an_sms_without_a_report_counts_as_before(desk: Desk) -> None:
    """No report yet: the SMS may have arrived, so it counts."""
    desk.request("first")
    assert desk.request("again") == catalogue.RATE_LIMITED


def test_the_code_record_names_the_gateway_and_its_id(desk: Desk) -> None:
    """The stored code says which gateway took its SMS and under which provider id."""
    desk.request("first")
    token_id = desk.engine.find_token("shop").id  # type: ignore[union-attr]
    code = desk.engine.store.find_code(token_id, "first")
    assert code is not None
    assert (code.gateway, code.provider_id) == ("a", f"mem-{code.message_id}")


def test_the_audit_record_of_a_send_names_the_gateway(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    """code.sent names the gateway that took the SMS (b, when a refused)."""
    from tfa_engine.gateways import GatewayError

    desk.a.failure = GatewayError("HTTP 400")
    with caplog.at_level(logging.INFO, logger="tfa.audit"):
        desk.request("first")
    sent = [r.audit for r in caplog.records  # type: ignore[attr-defined]
            if r.name == "tfa.audit" and r.audit["event"] == "code.sent"]
    assert [record["gateway"] for record in sent] == ["b"]


def test_a_gateways_own_report_finds_its_code_by_the_provider_id(desk: Desk) -> None:
    """A report naming the provider's id of the SMS is stored on that code."""
    desk.request("first")
    message_id = desk.message_id("first")
    desk.a.report(message_id, "UNDELIV", 5.0)
    code = desk.engine.store.find_code(
        desk.engine.find_token("shop").id, "first")  # type: ignore[union-attr]
    assert code is not None and code.delivery_status == "UNDELIV"
    assert desk.request("again") == catalogue.SUCCESS


class Hasty(MemoryGateway):
    """Reports each message delivered before its send returns, as an SMSC's receipt can
    overtake the gateway's answer on its way to the database."""

    def send(self, message: SmsMessage) -> Accepted:
        accepted = super().send(message)
        self.report(message.message_id, "DELIVRD", 5.0)
        return accepted


def test_a_report_that_overtakes_its_activation_is_kept_and_applied(
    store: Store, clock: Callable[[], float]
) -> None:
    """A receipt that comes before the code stored the provider's id is parked, and the
    next retry stores it on the code."""
    desk = Desk(store, clock)
    hasty = Hasty("a")
    desk.engine.gateway.gateways["a"] = hasty  # type: ignore[attr-defined]
    hasty.attach(desk.engine.deliveries.provider_report)
    assert desk.request("first") == catalogue.SUCCESS
    assert desk.engine.deliveries.parked == 1
    assert desk.engine.deliveries.retry_parked() == 1
    code = desk.engine.store.find_code(
        desk.engine.find_token("shop").id, "first")  # type: ignore[union-attr]
    assert code is not None and code.delivery_status == "DELIVRD"


def test_parked_reports_for_no_message_are_dropped_after_two_minutes(
    desk: Desk, clock: Callable[[], float]
) -> None:
    """A report no code ever claims is dropped once kept 120 s."""
    desk.engine.deliveries.provider_report(DeliveryReport("a", "mem-none", "DELIVRD", 5.0))
    clock.advance(121)  # type: ignore[attr-defined]
    assert desk.engine.deliveries.retry_parked() == 0
    assert desk.engine.deliveries.parked == 0


def test_each_stored_report_is_told_to_the_listeners(desk: Desk) -> None:
    """Listeners (the metrics) hear (gateway, status) of each report stored, once."""
    heard: list[tuple[str, str]] = []
    desk.engine.deliveries.listen(lambda gateway, status: heard.append((gateway, status)))
    desk.request("first")
    desk.report("first", "UNDELIV")
    desk.report("first", "UNDELIV")  # a repeat changes nothing
    assert heard == [("a", "UNDELIV")]
