"""A fake of Infobip's SMS API, after its public documentation
(https://www.infobip.com/docs/api/channels/sms/sms-messaging/outbound-sms/send-sms-message).

``POST /sms/2/text/advanced`` with ``Authorization: App <API key>`` and a JSON body
``{"messages": [{"destinations": [{"to": "41793026727"}], "from": ..., "text": ...,
"notifyUrl": ..., "notifyContentType": "application/json"}]}``. It answers 200 with
``bulkId`` and ``messages[0].messageId`` and the status group ``PENDING``; 401
``UNAUTHORIZED`` for a wrong key, 415 for a body that is not JSON, 400 ``BAD_REQUEST``
with ``validationErrors`` for a missing field; a number in ``refused`` is answered 200 with
the status group ``REJECTED``. :meth:`report` posts the delivery report to the message's
``notifyUrl``: ``{"results": [{"messageId", "status": {"groupName": "DELIVERED"...}}]}``.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from typing import Any

from fake_provider import Answer, FakeProvider, Received, post

DESTINATION = re.compile(r"\+?[1-9][0-9]{6,14}")
PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
           "description": "Message sent to next instance"}
REJECTED = {"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK",
            "description": "Network is forbidden"}
STATUSES = {
    "DELIVERED": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                  "name": "DELIVERED_TO_HANDSET", "description": "Message delivered to handset"},
    "UNDELIVERABLE": {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9,
                      "name": "UNDELIVERABLE_NOT_DELIVERED",
                      "description": "Message sent not delivered"},
    "EXPIRED": {"groupId": 4, "groupName": "EXPIRED", "id": 15, "name": "EXPIRED_EXPIRED",
                "description": "Message expired"},
    "REJECTED": REJECTED,
}


def request_error(status: int, message_id: str, text: str,
                  validation: dict[str, list[str]] | None = None) -> Answer:
    """Infobip's error document."""
    exception: dict[str, Any] = {"messageId": message_id, "text": text}
    if validation:
        exception["validationErrors"] = validation
    return status, {"requestError": {"serviceException": exception}}


class FakeInfobip(FakeProvider):
    """One account's SMS API."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.messages: dict[str, dict[str, Any]] = {}
        self._messages_lock = threading.Lock()

    def answer(self, received: Received) -> Answer:
        if received.path != "/sms/2/text/advanced":
            return request_error(404, "NOT_FOUND", "Not found")
        if received.headers.get("authorization") != f"App {self.api_key}":
            return request_error(401, "UNAUTHORIZED", "Invalid login details")
        if received.method != "POST":
            return request_error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        if received.content_type != "application/json":
            return request_error(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type")
        body = received.json()
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return request_error(400, "BAD_REQUEST", "Bad request",
                                 {"messages": ["must not be empty"]})
        answered = []
        bulk_id = secrets.token_hex(10)
        for index, message in enumerate(messages):
            problems = self._invalid(message, index)
            if problems:
                return request_error(400, "BAD_REQUEST", "Bad request", problems)
            for destination in message["destinations"]:
                message_id = secrets.token_hex(18)
                to = destination["to"]
                with self._messages_lock:
                    self.messages[message_id] = message
                status = REJECTED if to in self.refused else PENDING
                answered.append({"messageId": message_id, "status": status, "to": to})
        return 200, {"bulkId": bulk_id, "messages": answered}

    @staticmethod
    def _invalid(message: Any, index: int) -> dict[str, list[str]]:
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return {where: ["must be an object"]}
        destinations = message.get("destinations")
        if not isinstance(destinations, list) or not destinations:
            return {f"{where}.destinations": ["must not be empty"]}
        for number, destination in enumerate(destinations):
            to = destination.get("to") if isinstance(destination, dict) else None
            if not isinstance(to, str) or not DESTINATION.fullmatch(to):
                return {f"{where}.destinations[{number}].to": ["invalid destination"]}
        if not isinstance(message.get("text"), str) or not message["text"]:
            return {f"{where}.text": ["must not be empty"]}
        return {}

    def report(self, message_id: str, group_name: str) -> tuple[int, bytes]:
        """Post the delivery report of ``message_id`` with the status group
        ``group_name`` to the message's ``notifyUrl``; the answer it got."""
        with self._messages_lock:
            message = self.messages[message_id]
        result = {"bulkId": "2034072219640523072", "messageId": message_id,
                  "to": message["destinations"][0]["to"],
                  "sentAt": "2019-11-09T16:00:00.000+0000",
                  "doneAt": "2019-11-09T16:00:00.000+0000", "smsCount": 1,
                  "price": {"pricePerMessage": 0.01, "currency": "EUR"},
                  "status": STATUSES[group_name],
                  "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                            "description": "No Error", "permanent": False}}
        content_type = message.get("notifyContentType", "application/json")
        return post(message["notifyUrl"], json.dumps({"results": [result]}).encode(),
                    content_type)
