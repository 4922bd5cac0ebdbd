"""What the fake SMS providers share: a WSGI app that records each request, answers as
its provider documents, and posts the provider's delivery reports where it was told to.

Each provider's fake (fake_twilio.py, fake_vonage.py, fake_infobip.py) checks a request
as its provider would (path, auth, content type, required fields) and answers with the
provider's documented status and body; the tests read ``received`` to see exactly what
arrived. Serve one with loopback.serve_in_thread.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import urllib3

Answer = tuple[int, Any]  # HTTP status, JSON body
REPORT_TIMEOUT = 5.0  # seconds a report post may take


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type, without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        """The form fields of the body (empty unless it is a form)."""
        if self.content_type != "application/x-www-form-urlencoded":
            return {}
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def json(self) -> Any:
        """The JSON of the body, or None when it is none."""
        if self.content_type != "application/json":
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class FakeProvider(ABC):
    """A WSGI app: ``answer(received)`` decides each answer; every request is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.refused: set[str] = set()  # numbers (as sent) the provider refuses

    @property
    def received(self) -> list[Received]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._received)

    @abstractmethod
    def answer(self, received: Received) -> Answer:
        """The provider's answer to one request."""

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {key[5:].replace("_", "-").lower(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        received = Received(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                            headers, environ["wsgi.input"].read(length))
        with self._lock:
            self._received.append(received)
        status, body = self.answer(received)
        data = json.dumps(body).encode()
        start_response(f"{status} {_REASONS.get(status, 'Status')}",
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(data)))])
        return [data]


def post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """POST a report as the provider does; its status and body (errors included)."""
    answer = urllib3.request("POST", url, body=body, headers={"Content-Type": content_type},
                             timeout=REPORT_TIMEOUT, retries=False, redirect=False)
    return answer.status, answer.data


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
            404: "Not Found", 405: "Method Not Allowed", 415: "Unsupported Media Type"}
