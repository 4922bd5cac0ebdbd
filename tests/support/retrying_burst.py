"""Clients that keep requesting codes while a deployment is being broken, each call
retried with its own client_ref until it gets a final answer.

Importable from every test directory. A :class:`Burst` runs client threads, each asking
for codes back to back (a client_ref and a phone of its own per call, a callback_url on
every third), spread over the nodes. A call whose answer says nothing final — no answer
at all (a killed process broke the connection, a node is down), 503 -78 (the database is
down) or -65 (the gateway failed) — is retried on the next node with the SAME client_ref,
as a client behind a load balancer would, until it gets:

* 201, or
* -52, which the API gives when a process had completed the call (its code live, its SMS
  out) but died before answering. Until ``settle`` seconds after the last failed attempt,
  a -52 may instead come from a code that attempt left pending (a dead sender's; the
  client_ref comes free once it is stale): such a -52 is retried too.

Every attempt is recorded (:class:`Ask`), for the test to check what the clients saw
against what the gateway and the database hold.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from fleet import new_phone, new_ref
from parallel_http import call

SENT = (201, 0)
DUPLICATE = (422, -52)
UNAVAILABLE = (503, -78)
GATEWAY_FAILED = (400, -65)
RETRIED = frozenset({UNAVAILABLE, GATEWAY_FAILED})  # no final answer: try again
RETRY_PAUSE = 0.2  # seconds before a call is tried again
GIVE_UP = 90.0  # seconds a call may take, its retries included
STOP_TIMEOUT = GIVE_UP + 30.0  # seconds for every client to finish its call once stopped


@dataclass(frozen=True)
class Attempt:
    """One try of a call: when, on which node, and the answer (None: no answer)."""

    started: float  # time.time()
    ended: float
    node: int  # index into the burst's URLs
    outcome: tuple[int, int] | None  # (HTTP status, status_code)
    message_id: str = ""  # of a 201
    retry_after: str | None = None  # the Retry-After header of the answer
    error: str = ""  # why there was no answer

    @property
    def failed(self) -> bool:
        """No answer, or one that is retried."""
        return self.outcome is None or self.outcome in RETRIED


@dataclass
class Ask:
    """One call of a client: its client_ref, phone, whether it gave a callback_url, and
    every attempt; ``final`` is the attempt that ended it (None: it gave up)."""

    client_ref: str
    phone: str
    callback: bool
    attempts: list[Attempt] = field(default_factory=list)
    final: Attempt | None = None

    @property
    def retries(self) -> int:
        """Attempts after the first."""
        return max(0, len(self.attempts) - 1)

    @property
    def failures(self) -> list[Attempt]:
        """Attempts that got no final answer (no answer, 503, -65)."""
        return [attempt for attempt in self.attempts if attempt.failed]


class Burst:
    """``clients`` threads requesting codes as ``token`` from ``urls`` until :meth:`stop`."""

    def __init__(
        self,
        urls: Sequence[str],
        token: str,
        callback_url: str,
        settle: float,
        clients: int = 8,
        pause: float = 0.2,
    ) -> None:
        self.urls = list(urls)
        self.token = token
        self.callback_url = callback_url
        self.settle = settle
        self.pause = pause  # seconds a client waits between two calls
        self.asks: list[Ask] = []
        self.crashes: list[str] = []  # a client thread that raised: what
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(number,), name=f"burst-{number}",
                             daemon=True)
            for number in range(clients)
        ]

    def start(self) -> None:
        """Start every client."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Let every client finish its call, and wait for them (bounded)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        assert not alive, f"clients still calling: {alive}"

    def abandon(self) -> None:
        """Stop at once, whatever the calls in hand got (for a scenario that failed)."""
        self._abandon.set()
        self.stop()

    def _client(self, number: int) -> None:
        try:
            for count in itertools.count():
                if self._stop.is_set():
                    return
                ask = Ask(new_ref("burst"), new_phone(), callback=count % 3 == 0)
                with self._lock:
                    self.asks.append(ask)
                self.ask(ask, first_node=(number + count) % len(self.urls))
                self._stop.wait(self.pause)
        except BaseException as exc:  # a failure of the test's own: reported, not lost
            with self._lock:
                self.crashes.append(f"{threading.current_thread().name}: {exc!r}")

    def ask(self, ask: Ask, first_node: int = 0) -> None:
        """Call until a final answer (or :data:`GIVE_UP` seconds passed)."""
        body = {"client_ref": ask.client_ref, "phone_number": ask.phone}
        if ask.callback:
            body["callback_url"] = self.callback_url
        given_up = time.monotonic() + GIVE_UP
        node = first_node
        settled = 0.0  # time.time() from which a -52 is final
        while time.monotonic() < given_up and not self._abandon.is_set():
            attempt = self._attempt(node, body)
            ask.attempts.append(attempt)
            pause = RETRY_PAUSE
            if attempt.failed:
                settled = attempt.ended + self.settle
            elif attempt.outcome != DUPLICATE or time.time() >= settled:
                ask.final = attempt
                return
            else:  # a -52 too early to be final: try again once a pending code is stale
                pause = max(pause, settled - time.time())
            self._abandon.wait(pause)
            node = (node + 1) % len(self.urls)

    def _attempt(self, node: int, body: dict[str, str]) -> Attempt:
        started = time.time()
        try:
            reply = call(self.urls[node], "POST", "/1/2fa", token=self.token, body=body)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return Attempt(started, time.time(), node, None, error=type(exc).__name__)
        message_id = reply.message_id if reply.outcome == SENT else ""
        return Attempt(started, time.time(), node, reply.outcome, message_id,
                       reply.headers.get("retry-after"))
