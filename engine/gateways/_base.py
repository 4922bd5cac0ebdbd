"""The SMS gateway contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

# The SMPP final states a delivery report can carry, as the callbacks pass them on.
DELIVERY_STATUSES = ("DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "UNKNOWN")
# The final states that say the user never got the SMS.
UNDELIVERED = ("UNDELIV", "REJECTD", "EXPIRED")
# mediariver's message qualities: high, standard, with answers; a sender is allowed on H only.
QUALITIES = ("H", "S", "A")


@dataclass(frozen=True)
class SmsMessage:
    """One SMS to hand over: ``message_id`` is ours and travels as the gateway's uuid."""

    message_id: str
    recipient: str  # E.164 with the leading +
    sender: str
    text: str = field(repr=False)  # holds the code: never in a repr or a log
    # Gateways that recently failed to deliver to this recipient: a route tries them last.
    avoid: tuple[str, ...] = ()
    # A time.monotonic() by which the send must have ended, set by a route that tries
    # several gateways within one deadline; None: each gateway's own deadline.
    until: float | None = None

    def ends_at(self, now: float, deadline: float) -> float:
        """When a send starting at ``now`` (monotonic) must end: ``deadline`` seconds
        later, or at ``until`` when that comes first. Every gateway bounds its waits by it."""
        end = now + deadline
        return end if self.until is None else min(end, self.until)


@dataclass(frozen=True)
class Accepted:
    """What a gateway answers when it takes a message: its name (the one of a route that
    took it) and the provider's own id of the message, which its delivery reports name
    (None where reports name our ``message_id``, as mediariver's do)."""

    gateway: str
    provider_id: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """A delivery report a gateway received itself (an SMPP receipt, a provider's webhook),
    naming the message by the provider's id; ``status`` is one of
    :data:`DELIVERY_STATUSES`, ``at`` a Unix time."""

    gateway: str
    provider_id: str
    status: str
    at: float


ReportSink = Callable[[DeliveryReport], None]


class GatewayError(Exception):
    """The gateway refused the message or could not be reached in time.

    The engine answers -65 and frees the client_ref, so the client may retry.
    ``retry_after`` is set when the gateway said how long to wait.
    """

    def __init__(
        self, reason: str, *, retry_after: float | None = None, maybe_sent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        # True when the gateway may have taken the message all the same (a request that got
        # no answer): sending it elsewhere could deliver it twice.
        self.maybe_sent = maybe_sent


class Gateway(ABC):
    """Sends SMS. ``send`` returns once the gateway accepted the message.

    ``deadline`` is the longest one :meth:`send` may take, in seconds. ``name`` is the
    gateway's name in routes, logs, metrics and the audit trail (default: its kind).
    """

    deadline: float = 10.0
    name: str = ""

    @property
    def label(self) -> str:
        """The gateway's name: ``name`` when given, else its kind (``mediariver``,
        ``console``, ``memory``)."""
        return self.name or type(self).__name__.removesuffix("Gateway").lower() or "gateway"

    @abstractmethod
    def send(self, message: SmsMessage) -> Accepted | None:
        """Hand one message over; raise :class:`GatewayError` when it was not accepted.
        Return what the gateway said of it (None: accepted, with no id of its own)."""

    def attach(self, reports: ReportSink) -> None:  # noqa: B027 - optional hook
        """Give the gateway where to hand the delivery reports it receives itself (an SMPP
        session's receipts); a gateway whose reports come another way ignores it."""

    def check(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Make sure the gateway would take messages (it answers, the credentials are
        right) without sending one; raise :class:`GatewayError` naming what is wrong. A
        no-op where there is nothing to check."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections (a no-op where there are none)."""


class WrappingGateway(Gateway):
    """A gateway that sends through ``gateway``: its label, deadline, delivery reports,
    check and close are the wrapped gateway's; a subclass adds what it does to a send."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.deadline = gateway.deadline

    @property
    def label(self) -> str:
        return self.gateway.label

    def attach(self, reports: ReportSink) -> None:
        self.gateway.attach(reports)

    def check(self) -> None:
        self.gateway.check()

    def close(self) -> None:
        self.gateway.close()
