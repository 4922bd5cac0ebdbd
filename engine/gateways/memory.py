"""An in-memory gateway for tests, the engine's and users' own."""

from __future__ import annotations

import threading

from ._base import Accepted, DeliveryReport, Gateway, GatewayError, ReportSink, SmsMessage

__all__ = ["MemoryGateway"]


class MemoryGateway(Gateway):
    """Keeps what it was given; can be told to refuse.

    Set ``failure`` to a :class:`GatewayError` to make every send fail with it.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._messages: list[SmsMessage] = []
        self._reports: ReportSink | None = None
        self.failure: GatewayError | None = None
        self.attempts = 0

    def send(self, message: SmsMessage) -> Accepted:
        with self._lock:
            self.attempts += 1
            if self.failure is not None:
                raise self.failure
            self._messages.append(message)
        return Accepted(self.label, provider_id=self.provider_id(message.message_id))

    @staticmethod
    def provider_id(message_id: str) -> str:
        """The id this gateway gives a message it took (as a provider would its own)."""
        return f"mem-{message_id}"

    def attach(self, reports: ReportSink) -> None:
        self._reports = reports

    def report(self, message_id: str, status: str, at: float) -> None:
        """Hand the engine a delivery report for a message this gateway took, as a provider
        reporting by its own id would."""
        if self._reports is None:
            raise LookupError("no engine is attached to this gateway")
        self._reports(DeliveryReport(self.label, self.provider_id(message_id), status, at))

    @property
    def messages(self) -> list[SmsMessage]:
        """Accepted messages, oldest first."""
        with self._lock:
            return list(self._messages)

    def last_to(self, recipient: str) -> SmsMessage:
        """The newest message accepted for ``recipient`` (E.164)."""
        for message in reversed(self.messages):
            if message.recipient == recipient:
                return message
        raise LookupError(f"no message to {recipient}")
