"""What the HTTP gateways share: one send is a few requests over pooled HTTP (urllib3),
all inside one deadline.

The deadline ends at ``message.ends_at(clock(), deadline)``, so a route's share of its own
deadline bounds it too; each request's time-outs shrink to the time left; a failed
attempt waits the back-off (doubling from ``backoff``) or the wait the provider asked for,
and gives up when no attempt is left or the wait would not fit. Once a request may have
reached the provider unanswered, the failure says ``maybe_sent``. What an answer means is
each gateway's own (:meth:`PooledHttpGateway._answered`, :meth:`~PooledHttpGateway._unanswered`).
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import SplitResult, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from .._phones import mask
from ._base import Accepted, Gateway, GatewayError, SmsMessage


def http_url(url: str, what: str, error: type[ValueError] = ValueError) -> SplitResult:
    """``url`` split, or ``error`` naming ``what`` when it is not an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Operator configuration, not user input; still nothing but the web.
        raise error(f"{what} must be an http(s) URL, not {url!r}")
    return parts


@dataclass
class Sending:
    """One send under way: its message, when it must end, the requests made so far, and
    whether one of them may have reached the provider without an answer."""

    message: SmsMessage
    end: float
    attempt: int = 0
    maybe_sent: bool = False


class PooledHttpGateway(Gateway):
    """The base of a gateway that sends each message with up to ``max_attempts`` requests
    of ``method`` to ``url`` within ``deadline`` seconds; thread-safe.

    ``read_timeout`` None: a request may wait for its answer as long as time is left.
    ``sleep`` and ``clock`` are injectable (``clock`` monotonic); whatever the settings of
    ``pool``, urllib3 neither retries nor follows redirects here: the gateway decides what
    is tried again. Raises ``error`` for timings it cannot work with.
    """

    _log: ClassVar[logging.Logger]

    def __init__(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str],
        *,
        deadline: float,
        connect_timeout: float,
        read_timeout: float | None,
        max_attempts: int,
        backoff: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        pool: urllib3.PoolManager | None,
        error: type[ValueError] = ValueError,
    ) -> None:
        if max_attempts < 1:
            raise error("max_attempts must be at least 1")
        timeouts = {"deadline": deadline, "connect_timeout": connect_timeout,
                    "read_timeout": read_timeout}
        for name, value in timeouts.items():
            if value is not None and not value > 0:
                raise error(f"{name} must be positive")
        if backoff < 0:
            raise error("backoff must not be negative")
        self.url = url
        self.method = method
        self._headers = dict(headers)
        self.deadline = deadline
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._pool = (
            pool if pool is not None
            else urllib3.PoolManager(num_pools=4, maxsize=10, retries=False)
        )
        self._lock = threading.Lock()
        self._requests = 0

    @property
    def requests_made(self) -> int:
        """HTTP requests made so far, every send and every thread counted."""
        with self._lock:
            return self._requests

    def close(self) -> None:
        """Close the pooled connections; a later send opens new ones."""
        self._pool.clear()

    @property
    def _who(self) -> str:
        """How reasons and logs name the gateway."""
        return self.label

    def _send_body(self, message: SmsMessage, body: bytes) -> Accepted:
        """Send ``body`` for ``message`` until an answer takes it or the attempts or the
        time run out (then a GatewayError, ``maybe_sent`` as the attempts left it)."""
        sending = Sending(message, message.ends_at(self._clock(), self.deadline))
        while True:
            remaining = sending.end - self._clock()
            if remaining <= 0:
                raise self._fail(sending, f"deadline of {self.deadline:g}s passed", None)
            sending.attempt += 1
            try:
                response = self._request(body, remaining)
            except Urllib3Error as exc:
                self._unanswered(sending, exc)
                continue
            accepted = self._answered(sending, response)
            if accepted is not None:
                return accepted

    def _request(self, body: bytes, remaining: float) -> urllib3.BaseHTTPResponse:
        with self._lock:
            self._requests += 1
        read = remaining if self.read_timeout is None else min(self.read_timeout, remaining)
        return self._pool.request(
            self.method, self.url, body=body, headers=self._headers,
            timeout=urllib3.Timeout(total=remaining,
                                    connect=min(self.connect_timeout, remaining), read=read),
            retries=False, redirect=False,
        )

    @abstractmethod
    def _answered(self, sending: Sending, response: urllib3.BaseHTTPResponse) -> Accepted | None:
        """What the provider's answer means: accepted, None to try again (after
        :meth:`_pause_or_fail`), or a raised :meth:`_fail`."""

    @abstractmethod
    def _unanswered(self, sending: Sending, error: Urllib3Error) -> None:
        """A request got no answer: return to try again (after :meth:`_pause_or_fail`), or
        raise :meth:`_fail`; set ``sending.maybe_sent`` when it may have gone out."""

    @abstractmethod
    def _error(self, reason: str, status: int | None, sending: Sending,
               retry_after: float | None) -> GatewayError:
        """The gateway's own error for a send that failed."""

    def _pause_or_fail(self, sending: Sending, problem: str, status: int | None,
                       wait: float | None = None) -> None:
        """Wait ``wait`` (the provider's word) or the back-off before the next attempt, or
        fail when none is left or the wait would not fit in the time left."""
        attempt = sending.attempt
        delay = self.backoff * 2 ** (attempt - 1) if wait is None else wait
        if attempt >= self.max_attempts:
            raise self._fail(sending, problem, status, retry_after=wait)
        if delay >= sending.end - self._clock():
            late = problem if wait is not None else self._out_of_time(problem)
            raise self._fail(sending, late, status, retry_after=wait)
        self._retrying(sending, problem)
        if delay > 0:
            self._sleep(delay)

    def _out_of_time(self, problem: str) -> str:
        """The problem of a send whose back-off would not fit in the time left."""
        return problem

    def _retrying(self, sending: Sending, problem: str) -> None:
        """Called before the wait of an attempt that will be tried again."""

    def _fail(self, sending: Sending, problem: str, status: int | None, *,
              retry_after: float | None = None) -> GatewayError:
        """Log and return the error of a send given up after ``sending.attempt`` requests."""
        attempts = sending.attempt
        plural = "" if attempts == 1 else "s"
        reason = f"{self._who}: {problem} (after {attempts} attempt{plural})"
        self._log.warning("%s gave up on message_id=%s to=%s: %s", self._who,
                          sending.message.message_id, mask(sending.message.recipient), reason)
        return self._error(reason, status, sending, retry_after)
