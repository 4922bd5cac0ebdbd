"""Routes over several gateways: which route a recipient takes, failover in order within one
deadline, the gateways to avoid tried last, and one error naming each gateway when none
took the message."""

from __future__ import annotations

import pytest

from tfa_engine.gateways import (
    Accepted,
    CircuitBreaker,
    Gateway,
    GatewayError,
    MemoryGateway,
    Route,
    RoutedGateway,
    SmsMessage,
)
from tfa_engine.gateways._base import ReportSink

UK_MOBILE = "+447911123456"
DE_MOBILE = "+4915112345678"
US_MOBILE = "+12015550123"


def message(recipient: str = UK_MOBILE, avoid: tuple[str, ...] = ()) -> SmsMessage:
    """A message to ``recipient``."""
    return SmsMessage("msg-1", recipient, "Shop", "Your code is 123456", avoid=avoid)


class FakeTime:
    """A monotonic clock the tests move."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Hanging(Gateway):
    """Takes nothing: waits until the message's ``until`` (on the fake clock) and fails as
    a gateway that never answered does."""

    def __init__(self, time: FakeTime, name: str) -> None:
        self.time = time
        self.name = name
        self.given_until: float | None = None

    def send(self, message: SmsMessage) -> Accepted | None:
        self.given_until = message.until
        assert message.until is not None
        self.time.now = message.until
        raise GatewayError("no answer", maybe_sent=True)


def memories(*names: str) -> dict[str, MemoryGateway]:
    """Memory gateways by name."""
    return {name: MemoryGateway(name) for name in names}


def test_the_longest_prefix_wins_then_the_region_then_the_default() -> None:
    """+4915 beats +49 and DE; a German number outside +4915 takes +49; a US number the
    default."""
    gateways = memories("a", "b", "c", "d")
    routed = RoutedGateway(gateways, [
        Route("default", ("a",)), Route("DE", ("b",)), Route("+49", ("c",)),
        Route("+4915", ("d",)),
    ])
    assert routed.route_for(DE_MOBILE).gateways == ("d",)
    assert routed.route_for("+4930123456").gateways == ("c",)
    assert routed.route_for(US_MOBILE).gateways == ("a",)


def test_a_region_route_takes_that_regions_numbers() -> None:
    """A region code routes the numbers phonenumbers places in that region."""
    routed = RoutedGateway(memories("a", "b"), [Route("default", ("a",)), Route("DE", ("b",))])
    assert routed.route_for(DE_MOBILE).gateways == ("b",)
    assert routed.route_for(UK_MOBILE).gateways == ("a",)


def test_a_refused_send_goes_to_the_next_gateway_which_is_named() -> None:
    """The first gateway refuses: the second takes the message and the answer names it."""
    gateways = memories("first", "second")
    gateways["first"].failure = GatewayError("HTTP 400")
    routed = RoutedGateway(gateways, [Route("default", ("first", "second"))])
    accepted = routed.send(message())
    assert accepted == Accepted("second", "mem-msg-1")
    assert [len(g.messages) for g in gateways.values()] == [0, 1]


def test_exactly_one_gateway_gets_a_message_the_first_takes() -> None:
    """When the first gateway takes the message, no other is tried."""
    gateways = memories("first", "second")
    routed = RoutedGateway(gateways, [Route("default", ("first", "second"))])
    assert routed.send(message()).gateway == "first"  # type: ignore[union-attr]
    assert [g.attempts for g in gateways.values()] == [1, 0]


def test_an_open_breaker_passes_the_send_on_at_once() -> None:
    """A gateway whose breaker is open is skipped without being reached."""
    gateways = memories("first", "second")
    gateways["first"].failure = GatewayError("HTTP 503")
    breaker = CircuitBreaker(gateways["first"], failures=1, pause=60, name="first")
    routed = RoutedGateway({"first": breaker, "second": gateways["second"]},
                           [Route("default", ("first", "second"))])
    routed.send(message())  # opens the breaker
    routed.send(message())
    assert gateways["first"].attempts == 1
    assert len(gateways["second"].messages) == 2


def test_gateways_to_avoid_are_tried_last() -> None:
    """A message avoiding the route's first gateway goes through the second."""
    gateways = memories("first", "second")
    routed = RoutedGateway(gateways, [Route("default", ("first", "second"))])
    assert routed.send(message(avoid=("first",))).gateway == "second"  # type: ignore[union-attr]
    assert gateways["first"].attempts == 0


def test_an_avoided_gateway_is_still_tried_when_the_others_fail() -> None:
    """Avoided is last, not never: when the others refuse, it gets the message."""
    gateways = memories("first", "second")
    gateways["second"].failure = GatewayError("HTTP 400")
    routed = RoutedGateway(gateways, [Route("default", ("first", "second"))])
    assert routed.send(message(avoid=("first",))).gateway == "first"  # type: ignore[union-attr]


def test_a_hanging_gateway_leaves_the_next_its_share_of_the_deadline() -> None:
    """With a 10 s deadline over two gateways, one that hangs is cut at 5 s and the next gets
    the other 5 s: the send ends within the one deadline."""
    time = FakeTime()
    hanging = Hanging(time, "slow")
    spare = MemoryGateway("spare")
    routed = RoutedGateway({"slow": hanging, "spare": spare},
                           [Route("default", ("slow", "spare"))], deadline=10, clock=time)
    start = time.now
    assert routed.send(message()).gateway == "spare"  # type: ignore[union-attr]
    assert hanging.given_until == start + 5
    assert spare.messages[0].until == start + 10


def test_no_gateway_taking_it_raises_one_error_naming_each() -> None:
    """Every gateway failing gives one GatewayError with each one's reason; maybe sent when
    any may have taken it."""
    time = FakeTime()
    refusing = MemoryGateway("refusing")
    refusing.failure = GatewayError("HTTP 400")
    routed = RoutedGateway({"refusing": refusing, "slow": Hanging(time, "slow")},
                           [Route("default", ("refusing", "slow"))], deadline=4, clock=time)
    with pytest.raises(GatewayError) as failed:
        routed.send(message())
    assert failed.value.reason == "refusing: HTTP 400; slow: no answer"
    assert failed.value.maybe_sent is True


def test_a_send_with_no_time_left_tries_no_further_gateway() -> None:
    """Once the deadline has passed, the next gateway is not tried."""
    time = FakeTime()
    spare = MemoryGateway("spare")
    routed = RoutedGateway({"slow": Hanging(time, "slow"), "spare": spare},
                           [Route("default", ("slow", "spare"))], deadline=10, clock=time)
    with pytest.raises(GatewayError):
        routed.send(SmsMessage("m", UK_MOBILE, "S", "x", until=time.now))
    assert spare.attempts == 0


def test_reports_of_every_gateway_reach_the_sink() -> None:
    """attach() hands the sink to every gateway of the routes."""
    gateways = memories("a", "b")
    routed = RoutedGateway(gateways, [Route("default", ("a", "b"))])
    seen: list[str] = []
    sink: ReportSink = lambda report: seen.append(report.gateway)  # noqa: E731
    routed.attach(sink)
    gateways["b"].report("m", "DELIVRD", 1.0)
    gateways["a"].report("m", "DELIVRD", 1.0)
    assert seen == ["b", "a"]


@pytest.mark.parametrize(("routes", "error"), [
    ([Route("+49", ("a",))], "default route"),
    ([Route("default", ("a", "zz"))], "'zz', which is not defined"),
])
def test_routes_that_cannot_work_are_refused(routes: list[Route], error: str) -> None:
    """Routes without a default or naming an unknown gateway are refused at construction."""
    with pytest.raises(ValueError, match=error):
        RoutedGateway(memories("a"), routes)


@pytest.mark.parametrize(("destination", "gateways"), [
    ("49", ("a",)), ("+49x", ("a",)), ("Germany", ("a",)), ("default", ()),
    ("default", ("a", "a")),
])
def test_a_route_that_names_no_destination_is_refused(
    destination: str, gateways: tuple[str, ...]
) -> None:
    """A destination must be default, +digits or a region code, with distinct gateways."""
    with pytest.raises(ValueError):
        Route(destination, gateways)
