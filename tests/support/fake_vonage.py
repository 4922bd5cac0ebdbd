"""A fake of Vonage's SMS API, after its public documentation
(https://developer.vonage.com/en/api/sms).

``POST /sms/json`` with a JSON or form body holding ``api_key``, ``api_secret``, ``from``,
``to`` (E.164 digits, no +) and ``text``, optionally ``client-ref`` and ``callback`` (the
delivery-receipt URL for this message). It always answers HTTP 200; ``messages[0].status``
says what happened: ``"0"`` with a ``message-id`` on success, ``"2"`` for a missing
parameter, ``"3"`` for an invalid one, ``"4"`` for bad credentials, ``"7"`` for a number in
``refused`` (barred). :meth:`report` posts the delivery receipt as a POST-JSON webhook:
``messageId``, ``status`` (``delivered``, ``failed``, ``rejected``, ``expired``...).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from typing import Any

from fake_provider import Answer, FakeProvider, Received, post

DIGITS = re.compile(r"[1-9][0-9]{6,14}")
ERRORS = {"0": "Success", "2": "Missing {}", "3": "Invalid {}", "4": "Bad Credentials",
          "7": "Number barred."}


def refused(status: str, field: str = "") -> Answer:
    """Vonage's answer to a message it did not take: still HTTP 200."""
    return 200, {"message-count": "1", "messages": [
        {"status": status, "error-text": ERRORS[status].format(field)}]}


class FakeVonage(FakeProvider):
    """One account's SMS API."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.api_secret = api_secret
        self.messages: dict[str, dict[str, Any]] = {}
        self._messages_lock = threading.Lock()

    def answer(self, received: Received) -> Answer:
        if received.path != "/sms/json":
            return 404, {"type": "https://developer.vonage.com/api-errors#not-found",
                         "title": "Not Found"}
        if received.method != "POST":
            return 405, {"title": "Method Not Allowed"}
        fields = received.json() if received.content_type == "application/json" \
            else received.form()
        if not isinstance(fields, dict):
            fields = {}
        for name in ("api_key", "api_secret"):
            if not fields.get(name):
                return refused("2", name)
        if fields["api_key"] != self.api_key or fields["api_secret"] != self.api_secret:
            return refused("4")
        for name in ("from", "to", "text"):
            if not isinstance(fields.get(name), str) or not fields[name]:
                return refused("2", f"{name} param")
        to = fields["to"]
        if not DIGITS.fullmatch(to):
            return refused("3", "to param")
        if to in self.refused:
            return refused("7")
        message_id = secrets.token_hex(8).upper()
        with self._messages_lock:
            self.messages[message_id] = fields
        item = {"to": to, "message-id": message_id, "status": "0",
                "remaining-balance": "3.14159265", "message-price": "0.03330000",
                "network": "23410"}
        if "client-ref" in fields:
            item["client-ref"] = fields["client-ref"]
        return 200, {"message-count": "1", "messages": [item]}

    def report(self, message_id: str, status: str) -> tuple[int, bytes]:
        """Post the delivery receipt of ``message_id`` to its ``callback`` as JSON (the
        account's webhook method POST-JSON); the answer it got."""
        with self._messages_lock:
            fields = self.messages[message_id]
        receipt = {"msisdn": fields["to"], "to": fields["from"], "network-code": "23410",
                   "messageId": message_id, "price": "0.03330000", "status": status,
                   "scts": "2001011400", "err-code": "0" if status == "delivered" else "1",
                   "api-key": self.api_key,
                   "message-timestamp": "2020-01-01 12:00:00 +0000"}
        if "client-ref" in fields:
            receipt["client-ref"] = fields["client-ref"]
        return post(fields["callback"], json.dumps(receipt).encode(), "application/json")
