"""An in-memory gateway for tests, the engine's and users' own."""

from __future__ import annotations

import threading

from ._base import Gateway, GatewayError, SmsMessage

__all__ = ["MemoryGateway"]


class MemoryGateway(Gateway):
    """Keeps what it was given; can be told to refuse.

    Set ``failure`` to a :class:`GatewayError` to make every send fail with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[SmsMessage] = []
        self.failure: GatewayError | None = None
        self.attempts = 0

    def send(self, message: SmsMessage) -> None:
        with self._lock:
            self.attempts += 1
            if self.failure is not None:
                raise self.failure
            self._messages.append(message)

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
