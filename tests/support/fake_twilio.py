"""A fake of Twilio's Messages API, after its public documentation
(https://www.twilio.com/docs/messaging/api/message-resource).

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (the
account SID and auth token) and a form body: ``To`` (E.164 with +), ``From`` (or
``MessagingServiceSid``), ``Body``, optionally ``StatusCallback``. It answers 201 with the
Message resource (``sid`` ``SM...``, ``status`` ``queued``), 401 with error 20003 for
wrong credentials, 400 with Twilio's error codes for a missing or invalid field, and for a
number in ``refused`` 400 with 21610 (unsubscribed recipient). :meth:`report` posts the
status callback Twilio sends: a form with ``MessageSid`` and ``MessageStatus``.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from urllib.parse import urlencode

from fake_provider import Answer, FakeProvider, Received, post

PATH = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_BODY = 1600  # characters of Body Twilio takes


def error(status: int, code: int, message: str) -> Answer:
    """Twilio's error document."""
    return status, {"code": code, "message": message, "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}"}


class FakeTwilio(FakeProvider):
    """One account's Messages API."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: dict[str, dict[str, str]] = {}  # sid -> the fields it was created with
        self._messages_lock = threading.Lock()

    def answer(self, received: Received) -> Answer:
        match = PATH.fullmatch(received.path)
        if match is None:
            return error(404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (received.headers.get("authorization") != f"Basic {expected}"
                or match[1] != self.account_sid):
            return error(401, 20003, "Authenticate")
        if received.method != "POST":
            return error(405, 20004, "Method not allowed")
        fields = received.form()  # Twilio reads form parameters only
        to = fields.get("To", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not E164.fullmatch(to):
            return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not fields.get("From") and not fields.get("MessagingServiceSid"):
            return error(400, 21603, "A 'From' phone number is required.")
        text = fields.get("Body", "")
        if not text:
            return error(400, 21602, "Message body is required.")
        if len(text) > MAX_BODY:
            return error(400, 21617, "The concatenated message body exceeds the 1600 "
                                     "character limit.")
        callback = fields.get("StatusCallback")
        if callback is not None and not callback.startswith(("http://", "https://")):
            return error(400, 21609, "Invalid StatusCallback url")
        if to in self.refused:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + secrets.token_hex(16)
        with self._messages_lock:
            self.messages[sid] = fields
        return 201, {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": text,
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": None,
            "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"), "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
            "status": "queued", "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    def report(self, sid: str, status: str) -> tuple[int, bytes]:
        """Post the status callback of message ``sid`` (``delivered``, ``undelivered``,
        ``failed``...) to its StatusCallback, as Twilio does; the answer it got."""
        with self._messages_lock:
            fields = self.messages[sid]
        report = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                  "From": fields.get("From", ""), "MessageSid": sid, "MessageStatus": status,
                  "SmsSid": sid, "SmsStatus": status, "To": fields["To"]}
        if status in ("undelivered", "failed"):
            report["ErrorCode"] = "30003"
        return post(fields["StatusCallback"], urlencode(report).encode(),
                    "application/x-www-form-urlencoded")
