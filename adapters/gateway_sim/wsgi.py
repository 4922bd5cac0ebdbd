"""The simulator's HTTP plumbing: Basic auth, JSON answers, serving it with waitress."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication

NO_CREDENTIALS = "No credentials provided"
CREDENTIALS_REJECTED = "Credentials rejected"


def authenticate(header: str | None, username: str, password: str) -> tuple[str | None, str]:
    """The customer's name when ``header`` holds the account's Basic credentials, else
    None and mediariver's reason."""
    if not header:
        return None, NO_CREDENTIALS
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None, NO_CREDENTIALS
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, CREDENTIALS_REJECTED
    given = decoded.partition(":")
    # Compared as a whole so that a wrong name and a wrong password look alike.
    if (given[0], given[2]) != (username, password):
        return None, CREDENTIALS_REJECTED
    return username, ""


@dataclass
class Answer:
    """A response waiting to be written: ``body`` as JSON, or bytes of ``content_type``."""

    status: int
    body: object
    headers: Mapping[str, str] | None = None
    content_type: str = "application/json"

    def respond(self, start_response: StartResponse) -> list[bytes]:
        """Start the response and return its body."""
        body = self.body
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        headers = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(data))),
            *(self.headers or {}).items(),
        ]
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        start_response(f"{self.status} {phrase}", headers)
        return [data]


def serve_simulator(
    sim: WSGIApplication,
    host: str = "127.0.0.1",
    port: int = 9090,
    *,
    threads: int = 8,
    **adjustments: Any,
) -> Any:
    """A waitress server for ``sim`` (or an app wrapping it), not yet running.

    Call ``.run()`` (it blocks) and ``.close()`` to stop. Port 0 picks a free port;
    ``server.effective_port`` tells which. Requests held by a ``hang`` fault occupy a thread
    each, hence more threads than waitress's default. Other keyword arguments go to
    ``waitress.create_server`` (e.g. ``map``). Needs waitress (the ``server`` extra).
    """
    import waitress

    return waitress.create_server(
        sim, host=host, port=port, threads=threads, ident="mediariver-simulator",
        **adjustments,
    )
