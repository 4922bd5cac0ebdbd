"""A callback listener on 127.0.0.1 that records every POST and can hold answers back.

Importable from every test directory. While ``holding`` is set, each request that arrives
waits (at most ``HOLD_LIMIT`` seconds) until :meth:`HoldListener.release` lets the requests
held so far go; every request is answered 200 in the end. A held sender sees a callback
that neither succeeds nor fails: that is how a test makes a server keep callbacks claimed.
``delay`` makes every answer take that many seconds (a slow receiver).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import loopback

HOLD_LIMIT = 30.0  # seconds a held request waits for release before it is answered anyway
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Callback:
    """One request the listener got."""

    body: bytes
    signature: str | None  # X-TFA-Signature
    arrived: float  # time.time() on arrival
    held: bool  # it arrived while the listener was holding

    @property
    def data(self) -> dict[str, Any]:
        """The callback's single ``data`` entry."""
        (entry,) = json.loads(self.body)["data"]
        return dict(entry)

    @property
    def message_id(self) -> str:
        """The message_id the callback reports on."""
        return str(self.data["message_id"])

    def signed_with(self, secret: str) -> bool:
        """True when the signature is the hex HMAC-SHA256 of the raw body keyed with the
        UTF-8 bytes of ``secret`` (as a client verifies it)."""
        expected = hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return self.signature is not None and hmac.compare_digest(self.signature, expected)


class HoldListener:
    """An HTTP server in a thread of this process; ``url`` is the callback_url to give."""

    def __init__(self) -> None:
        self.holding = False
        self.delay = 0.0  # seconds each answer takes
        self.received: list[Callback] = []
        self._changed = threading.Condition()
        self._gate = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with listener._changed:
                    held, gate = listener.holding, listener._gate
                    listener.received.append(Callback(
                        body, self.headers.get("X-TFA-Signature"), time.time(), held
                    ))
                    listener._changed.notify_all()
                if held:
                    gate.wait(HOLD_LIMIT)
                if listener.delay:
                    time.sleep(listener.delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests assert on what was received

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender killed while held: its connection is gone, nothing to say

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(loopback.POLL_INTERVAL,), daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Let every request held so far be answered; later ones wait if still holding."""
        with self._changed:
            gate, self._gate = self._gate, threading.Event()
        gate.set()

    def wait_until(
        self, found: Callable[[list[Callback]], bool], what: str, timeout: float
    ) -> list[Callback]:
        """What was received once ``found`` holds for it; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not found(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"callbacks: {what}: not within {timeout}s ({len(self.received)} received)"
                    )
                self._changed.wait(remaining)
            return list(self.received)

    def settle(self, seconds: float) -> list[Callback]:
        """Everything received after ``seconds`` more (time for a duplicate to show up)."""
        time.sleep(seconds)
        with self._changed:
            return list(self.received)

    def close(self) -> None:
        """Answer whatever is held, stop serving and release the socket."""
        self.holding = False
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT)
