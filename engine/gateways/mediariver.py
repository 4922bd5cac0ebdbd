"""The mediariver SMS gateway: ``POST {base}/v2/send`` over pooled HTTP (urllib3).

One :meth:`MediariverGateway.send` is one logical hand-over made of up to ``max_attempts``
HTTP requests, all inside one overall ``deadline``:

* 200/201 with ``total_queued >= 1`` and a ``details`` entry with ``queued >= 1`` (and our
  ``message_id`` as ``customer_uuid`` when the gateway echoes one) is success;
* 400 (the request was rejected as a whole) and 401 (credentials) fail at once: repeating
  the same request cannot change the answer;
* 429 waits ``RateLimit-Retry-After`` milliseconds and tries again when that fits in the
  deadline, else fails with ``retry_after`` set;
* 5xx, time-outs and connection errors are tried again after an exponential back-off.

Every request carries our ``message_id`` as the gateway's ``uuid``, so a request that timed
out after the gateway had queued it can be recognised on its side and in delivery reports.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from .._phones import mask
from ._base import QUALITIES, Accepted, GatewayError, SmsMessage
from ._http_sending import PooledHttpGateway, Sending, http_url
from ._mediariver_answers import count, error_summary, retry_after_seconds

__all__ = ["MediariverError", "MediariverGateway"]

log = logging.getLogger("tfa.gateway.mediariver")

_SUCCESS = frozenset({200, 201})
# Failures after the request went out: the gateway may have queued it without answering.
_UNANSWERED = (ReadTimeoutError, ProtocolError)
_USER_AGENT = "tfa-engine"


class MediariverError(GatewayError):
    """A :class:`GatewayError` that also tells the last HTTP status and how many requests were made.

    ``status`` is None when the last attempt got no HTTP answer (time-out, connection error).
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None,
        attempts: int,
        retry_after: float | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(reason, retry_after=retry_after, maybe_sent=maybe_sent)
        self.status = status
        self.attempts = attempts


class MediariverGateway(PooledHttpGateway):
    """Sends each SMS to mediariver with HTTP Basic auth; thread-safe.

    Args:
        base_url: ``http(s)://host[:port][/prefix]``; ``/v2/send`` is appended.
        username, password: the account's Basic-auth credentials.
        quality: ``H`` (the only one that carries a sender), ``S`` or ``A``.
        deadline: seconds one :meth:`send` may take in all, waits and retries included.
        connect_timeout, read_timeout: per-attempt limits, shrunk to the time left.
        max_attempts: HTTP requests per :meth:`send` at most (>= 1).
        backoff: the first retry's wait in seconds; it doubles after each failed attempt.
        sleep, clock: injectable for tests (``clock`` must be monotonic).
        pool: a ``urllib3.PoolManager`` to use (e.g. one with custom TLS settings); by
            default one is built. Whatever its settings, urllib3 neither retries nor
            follows redirects here: this class decides what is tried again.

    ``attempts_made`` counts the HTTP requests made since construction, by every thread.
    """

    _log = log

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        quality: str = "H",
        deadline: float = 10.0,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        parts = http_url(base_url, "mediariver base_url")
        if parts.query or parts.fragment:
            raise ValueError("mediariver base_url must not carry a query or a fragment")
        if not username or ":" in username:
            raise ValueError("mediariver username must be non-empty and hold no ':'")
        if quality not in QUALITIES:
            raise ValueError(f"mediariver quality must be one of {', '.join(QUALITIES)}")
        # RFC 7617 allows UTF-8 credentials; urllib3's helper would encode Latin-1 only.
        credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        super().__init__(
            base_url.rstrip("/") + "/v2/send", "POST", headers, deadline=deadline,
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            max_attempts=max_attempts, backoff=backoff, sleep=sleep, clock=clock, pool=pool,
        )
        self.quality = quality

    def __repr__(self) -> str:  # no credentials in a repr
        return f"{type(self).__name__}({self.url!r}, quality={self.quality!r})"

    @property
    def attempts_made(self) -> int:
        """HTTP requests made so far, every send and every thread counted."""
        return self.requests_made

    @property
    def _who(self) -> str:
        return "mediariver"

    def payload(self, message: SmsMessage) -> dict[str, Any]:
        """The JSON body sent for ``message`` (the sender travels with quality ``H`` only)."""
        item: dict[str, Any] = {
            "recipients": [message.recipient],
            "quality": self.quality,
            "message": message.text,
            "uuid": message.message_id,
        }
        if self.quality == "H" and message.sender:
            item["sender"] = message.sender
        return {"messages": [item]}

    def check(self) -> None:
        """Ask mediariver to judge the credentials without sending anything: it answers 401
        to bad credentials before it looks at a body, and 400 to an empty one. Raises
        :class:`MediariverError` for 401, for no answer, or for any other status."""
        try:
            response = self._pool.request(
                "POST", self.url, body=b"{}", headers=self._headers,
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout),
                retries=False, redirect=False,
            )
        except Urllib3Error as exc:
            raise MediariverError(f"mediariver at {self.url} did not answer: "
                                  f"{type(exc).__name__}", status=None, attempts=1) from None
        if response.status == 401:
            detail = error_summary(response.data, SmsMessage("", "", "", ""))
            raise MediariverError(f"mediariver refused the credentials (HTTP 401{detail})",
                                  status=401, attempts=1)
        if response.status != 400:
            raise MediariverError(
                f"mediariver answered HTTP {response.status} where 400 was expected "
                "(is the URL the gateway's?)", status=response.status, attempts=1,
            )

    def send(self, message: SmsMessage) -> Accepted:
        """Hand ``message`` to mediariver; raise :class:`MediariverError` when it was not queued
        (``maybe_sent`` when a request got no answer after it went out). Its delivery
        reports name our ``message_id`` (the uuid it travelled with)."""
        body = json.dumps(self.payload(message), ensure_ascii=False).encode("utf-8")
        return self._send_body(message, body)

    # -- outcomes ---------------------------------------------------------------------------

    def _unanswered(self, sending: Sending, error: Urllib3Error) -> None:
        # The class name says enough (ReadTimeoutError, NewConnectionError...); the
        # message may repeat the URL, which is harmless but noisy.
        problem = type(error).__name__
        if isinstance(error, _UNANSWERED):
            sending.maybe_sent = True
        self._log_attempt(logging.WARNING, sending, problem)
        self._pause_or_fail(sending, problem, None)

    def _answered(self, sending: Sending, response: urllib3.BaseHTTPResponse) -> Accepted | None:
        status = response.status
        self._log_attempt(logging.INFO, sending, f"HTTP {status}")
        if status in _SUCCESS:
            self._check_queued(sending, response.data, status)
            return Accepted(self.label)
        if status == 429:
            self._rate_limited(sending, response.headers)
            return None
        if status >= 500:
            self._pause_or_fail(sending, f"HTTP {status}", status)
            return None
        # 400, 401 and anything else: the same request would get the same answer.
        detail = error_summary(response.data, sending.message)
        raise self._fail(sending, f"HTTP {status}{detail}", status)

    def _log_attempt(self, level: int, sending: Sending, outcome: str) -> None:
        log.log(level, "mediariver attempt %d/%d message_id=%s to=%s: %s", sending.attempt,
                self.max_attempts, sending.message.message_id,
                mask(sending.message.recipient), outcome)

    def _check_queued(self, sending: Sending, data: bytes, status: int) -> None:
        """Accept the answer only when it says our message was queued."""
        message = sending.message
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise self._fail(sending, f"HTTP {status} with no JSON object", status)
        details = answer.get("details")
        queued = [
            entry
            for entry in (details if isinstance(details, list) else [])
            if isinstance(entry, dict)
            and count(entry.get("queued")) >= 1
            and entry.get("customer_uuid", message.message_id) == message.message_id
        ]
        if count(answer.get("total_queued")) < 1 or not queued:
            # No retry: the gateway answered, and a second request could send a second SMS.
            raise self._fail(sending, f"HTTP {status} but nothing queued", status)
        log.info(
            "mediariver queued message_id=%s to=%s as uuid=%s",
            message.message_id,
            mask(message.recipient),
            queued[0].get("uuid"),
        )

    def _rate_limited(self, sending: Sending, headers: Mapping[str, str]) -> None:
        """Wait as long as the gateway asked when that fits, else fail with ``retry_after``."""
        wait = retry_after_seconds(headers.get("RateLimit-Retry-After"))
        problem = "HTTP 429" if wait is None else f"HTTP 429, retry after {wait:g}s"
        self._pause_or_fail(sending, problem, 429, wait)

    def _out_of_time(self, problem: str) -> str:
        return f"{problem}; no time left in the {self.deadline:g}s deadline"

    def _error(self, reason: str, status: int | None, sending: Sending,
               retry_after: float | None) -> GatewayError:
        return MediariverError(reason, status=status, attempts=sending.attempt,
                               retry_after=retry_after, maybe_sent=sending.maybe_sent)
