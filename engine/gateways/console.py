"""A development gateway: one readable line per SMS on a stream (stdout by default)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from ._base import Accepted, Gateway, SmsMessage

__all__ = ["ConsoleGateway"]


class ConsoleGateway(Gateway):
    """Prints ``SMS to <recipient> from <sender>: <text>`` instead of sending.

    For development only: the line holds the code, which is what a developer needs.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: SmsMessage) -> Accepted:
        stream = self._stream if self._stream is not None else sys.stdout
        line = f"SMS to {message.recipient} from {message.sender}: {message.text}\n"
        with self._lock:  # whole lines even when several threads send at once
            stream.write(line)
            stream.flush()
        return Accepted(self.label)
