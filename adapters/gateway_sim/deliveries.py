"""What became of each SMS the simulator took: the last delivery report posted for it.

The inspection list (``GET /messages``) and the browser inbox show it as an entry's
``report``: ``{"delivery_status", "delivery_date", "answer"}``, where ``answer`` is the HTTP
status the report's receiver gave, or why posting it failed. An entry has no ``report``
until one was posted.
"""

from __future__ import annotations

import threading
from typing import Any

from .reports import DlrPayload

MAX_ANSWER_TEXT = 200  # characters of a failure kept for display


class DeliveryLog:
    """The last report posted for each (recipient, report uuid), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], dict[str, Any]] = {}

    def posted(self, payload: DlrPayload, answer: object) -> None:
        """Record the reports of one posted ``payload`` and the poster's ``answer``."""
        reports = payload if isinstance(payload, list) else [payload]
        shown = describe(answer)
        with self._lock:
            for report in reports:
                self._last[(report["msisdn"], report["uuid"])] = {
                    "delivery_status": report["delivery_status"],
                    "delivery_date": report["delivery_date"],
                    "answer": shown,
                }

    def annotate(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``entry`` (an inspection list entry) with its ``report`` added, if it has one."""
        # A report names the customer's uuid when the request had one, else the simulator's.
        key = (entry["recipient"], entry["customer_uuid"] or entry["uuid"])
        with self._lock:
            last = self._last.get(key)
        if last is not None:
            entry["report"] = dict(last)
        return entry

    def clear(self) -> None:
        """Forget every report."""
        with self._lock:
            self._last.clear()


def describe(answer: object) -> int | str | None:
    """A poster's answer as shown: an HTTP status, a failure's text, or None (unknown)."""
    if isinstance(answer, BaseException):
        text = f"{type(answer).__name__}: {answer}"
        return text if len(text) <= MAX_ANSWER_TEXT else text[: MAX_ANSWER_TEXT - 1] + "…"
    if isinstance(answer, int) and not isinstance(answer, bool):
        return answer
    return None
