"""The SMS gateway contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

# The SMPP final states a delivery report can carry, as the callbacks pass them on.
DELIVERY_STATUSES = ("DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "UNKNOWN")
# mediariver's message qualities: high, standard, with answers; a sender is allowed on H only.
QUALITIES = ("H", "S", "A")


@dataclass(frozen=True)
class SmsMessage:
    """One SMS to hand over: ``message_id`` is ours and travels as the gateway's uuid."""

    message_id: str
    recipient: str  # E.164 with the leading +
    sender: str
    text: str = field(repr=False)  # holds the code: never in a repr or a log


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

    ``deadline`` is the longest one :meth:`send` may take, in seconds.
    """

    deadline: float = 10.0

    @property
    def label(self) -> str:
        """A short name for logs and metrics: ``mediariver``, ``console``, ``memory``."""
        return type(self).__name__.removesuffix("Gateway").lower() or "gateway"

    @abstractmethod
    def send(self, message: SmsMessage) -> None:
        """Hand one message over; raise :class:`GatewayError` when it was not accepted."""

    def check(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Make sure the gateway would take messages (it answers, the credentials are
        right) without sending one; raise :class:`GatewayError` naming what is wrong. A
        no-op where there is nothing to check."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections (a no-op where there are none)."""
