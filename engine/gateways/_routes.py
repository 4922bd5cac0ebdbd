"""Routes: which gateways a message goes through, in order, by its destination.

A :class:`Route` names a destination — an E.164 prefix (``+49``), a region code (``DE``,
or ``001`` for the non-geographic numbers) or ``default`` — and an ordered list of
gateway names. :class:`RoutedGateway` sends each message by the most specific route
that matches it (the longest prefix, else its region, else the default) and goes on to
the route's next gateway when one refuses the message, fails or times out, all within
one deadline. The gateways that recently failed to deliver to the recipient
(:attr:`SmsMessage.avoid`) are tried last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import phonenumbers

from .._phones import mask
from ._base import Accepted, Gateway, GatewayError, ReportSink, SmsMessage

__all__ = ["DEFAULT_ROUTE", "Route", "RoutedGateway", "destination_problem"]

log = logging.getLogger("tfa.gateway")

DEFAULT_ROUTE = "default"


def destination_problem(destination: str) -> str | None:
    """Why ``destination`` names no destination (None when it does): ``default``, a
    ``+`` and 1 to 15 digits, or a region code phonenumbers knows."""
    if destination == DEFAULT_ROUTE:
        return None
    if destination.startswith("+"):
        digits = destination[1:]
        if digits.isdigit() and 1 <= len(digits) <= 15 and digits.isascii():
            return None
        return f"{destination!r} is not a + and 1 to 15 digits"
    if destination in phonenumbers.SUPPORTED_REGIONS or destination == "001":
        return None
    return (f"{destination!r} is neither 'default', an E.164 prefix (+49) nor a region "
            "code (DE)")


@dataclass(frozen=True)
class Route:
    """The gateways, in order, that messages to ``destination`` go through."""

    destination: str
    gateways: tuple[str, ...]

    def __post_init__(self) -> None:
        problem = destination_problem(self.destination)
        if problem is not None:
            raise ValueError(problem)
        if not self.gateways:
            raise ValueError(f"the route for {self.destination} names no gateway")
        if len(set(self.gateways)) != len(self.gateways):
            raise ValueError(f"the route for {self.destination} names a gateway twice")


def _region_of(recipient: str) -> str | None:
    try:
        number = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)


class RoutedGateway(Gateway):
    """Sends through the gateways of the route that matches each message's recipient.

    ``gateways`` maps each name to its gateway (each behind its own breaker, so that one
    whose breaker is open fails at once and the next is tried); ``routes`` must include a
    ``default`` route. ``deadline`` bounds one whole send, every gateway tried included:
    each gateway gets an equal share of the time left (see :meth:`SmsMessage.ends_at`),
    the last one all of it, so that a gateway that hangs cannot take the others' time.

    A gateway that got the message but did not answer in time may have taken it: going
    on to the next gateway may then deliver the code twice (the same code, in two SMS).
    That is the price of not leaving the user without a code; the message id, metrics and
    audit record name the one gateway that answered that it took it.
    """

    def __init__(
        self,
        gateways: Mapping[str, Gateway],
        routes: Iterable[Route],
        *,
        deadline: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        routes = tuple(routes)
        unknown = sorted({n for route in routes for n in route.gateways} - set(gateways))
        if unknown:
            raise ValueError(f"a route names the gateway {unknown[0]!r}, which is not defined")
        if not any(route.destination == DEFAULT_ROUTE for route in routes):
            raise ValueError("the routes need a default route")
        if deadline <= 0:
            raise ValueError("a route's deadline must be positive")
        self.gateways = dict(gateways)
        self.deadline = deadline
        self._clock = clock
        self._prefixes = sorted(
            (r for r in routes if r.destination.startswith("+")),
            key=lambda r: len(r.destination), reverse=True,
        )
        self._regions = {r.destination: r for r in routes
                         if r.destination != DEFAULT_ROUTE and not r.destination.startswith("+")}
        self._default = next(r for r in routes if r.destination == DEFAULT_ROUTE)

    @property
    def label(self) -> str:
        return self.name or "routes"

    def route_for(self, recipient: str) -> Route:
        """The route a message to ``recipient`` (E.164) goes by."""
        for route in self._prefixes:
            if recipient.startswith(route.destination):
                return route
        region = _region_of(recipient)
        return self._regions.get(region or "", self._default)

    def order_for(self, message: SmsMessage) -> list[str]:
        """The names of the gateways to try, in order: the route's, those to avoid last."""
        names = self.route_for(message.recipient).gateways
        return ([n for n in names if n not in message.avoid]
                + [n for n in names if n in message.avoid])

    def send(self, message: SmsMessage) -> Accepted | None:
        until = message.ends_at(self._clock(), self.deadline)
        order = self.order_for(message)
        failures: list[tuple[str, GatewayError]] = []
        for index, name in enumerate(order):
            now = self._clock()
            if failures and now >= until:
                break
            # An equal share of the time left for each gateway still to try, so that one
            # that hangs leaves the next its chance; the last gets all that is left.
            share = (until - now) / (len(order) - index)
            try:
                accepted = self.gateways[name].send(replace(message, until=now + share))
            except GatewayError as exc:
                failures.append((name, exc))
                log.warning("gateway %s did not take message_id=%s to %s (%s)",
                            name, message.message_id, mask(message.recipient), exc.reason)
                continue
            return accepted if accepted is not None else Accepted(name)
        raise _all_failed(failures)

    def attach(self, reports: ReportSink) -> None:
        for gateway in self.gateways.values():
            gateway.attach(reports)

    def check(self) -> None:
        """Check every gateway; the error names each that failed."""
        problems = []
        for name, gateway in self.gateways.items():
            try:
                gateway.check()
            except GatewayError as exc:
                problems.append(f"{name}: {exc.reason}")
        if problems:
            raise GatewayError("; ".join(problems))

    def close(self) -> None:
        for gateway in self.gateways.values():
            gateway.close()


def _all_failed(failures: list[tuple[str, GatewayError]]) -> GatewayError:
    """One error for a send no gateway took: each gateway's reason; the shortest wait any
    gateway asked for; maybe sent when any may have taken it."""
    waits = [exc.retry_after for _, exc in failures if exc.retry_after is not None]
    return GatewayError(
        "; ".join(f"{name}: {exc.reason}" for name, exc in failures),
        retry_after=min(waits) if waits else None,
        maybe_sent=any(exc.maybe_sent for _, exc in failures),
    )
