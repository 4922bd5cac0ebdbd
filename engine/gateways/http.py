"""A generic gateway for providers with a REST API (Twilio, Vonage, Infobip...).

One request per message, its body filled from a template (:class:`BodyTemplate`), sent
over pooled HTTP (urllib3) with basic, bearer or header auth. What the provider answers
decides:

* a status of ``accept_status`` (and, when configured, ``accept_field`` holding
  ``accept_value``) is acceptance; the provider's id of the message is read at
  ``id_field``, so that its delivery reports can be matched to the code;
* 401 and 403 are refused credentials, any other 4xx a refused message: both fail at once;
* 429 and 503 say the provider did not take the message: it is tried again after the
  wait they ask for (``Retry-After`` seconds) or a back-off, while the deadline allows;
* a connection that could not be opened is tried again the same way: nothing went out.

Nothing else is tried again. Few providers take an idempotency key, so a request that may
have reached the provider (no answer after it went out, a 500, 502 or 504 from the
provider or a proxy before it) fails with ``maybe_sent``: sending it again here or
elsewhere could deliver the code twice.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import urllib3
from urllib3.exceptions import ConnectTimeoutError, SSLError
from urllib3.exceptions import HTTPError as Urllib3Error

from .._phones import mask
from .._requests import decode_json
from .._values import ConfigError
from ._base import Accepted, GatewayError, SmsMessage
from ._http_reports import HttpReports
from ._http_sending import PooledHttpGateway, Sending, http_url
from ._http_shape import BodyTemplate, FieldPath, scalar_text
from ._mediariver_answers import scrub

__all__ = ["HttpGateway", "HttpGatewayError", "HttpReports"]

log = logging.getLogger("tfa.gateway.http")

AUTHS = ("none", "basic", "bearer", "header")
METHODS = ("POST", "PUT", "PATCH")
DEFAULT_ACCEPT = (200, 201, 202)
_NOT_TAKEN = frozenset({429, 503})  # answers that say the message was not taken
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_EXCERPT = 200  # characters of a provider's answer kept in a reason


class HttpGatewayError(GatewayError):
    """A :class:`GatewayError` telling the provider's last HTTP status (None: no answer)."""

    def __init__(self, reason: str, *, status: int | None, retry_after: float | None = None,
                 maybe_sent: bool = False) -> None:
        super().__init__(reason, retry_after=retry_after, maybe_sent=maybe_sent)
        self.status = status


class HttpGateway(PooledHttpGateway):
    """Sends each SMS as one request to a provider's REST API; thread-safe.

    Args:
        url: the provider's ``http(s)://`` endpoint, as its documentation gives it.
        body: the template (see :class:`BodyTemplate`): a JSON object or array whose
            strings may hold ``{to}`` (E.164 with ``+``), ``{to_digits}`` (without),
            ``{text}``, ``{sender}``, ``{message_id}`` and the credentials ``{username}``,
            ``{password}``, ``{token}``; for ``format="form"`` a table field -> text.
        method: ``POST``, ``PUT`` or ``PATCH``.
        auth: ``none``, ``basic`` (``username``, ``password``), ``bearer`` (``token``) or
            ``header`` (``auth_header: token``, e.g. ``Authorization: App <key>``).
        accept_status: the HTTP statuses of acceptance.
        accept_field, accept_value: a dotted path of the answer and the value it must
            hold for acceptance (``messages.0.status`` and ``0``); both or neither.
        id_field: the dotted path of the provider's message id in the answer.
        deadline: seconds one send may take in all, waits and retries included.
        connect_timeout: seconds to open a connection, shrunk to the time left.
        max_attempts: requests per send at most, where one may be tried again.
        backoff: the first retry's wait when the provider names none; it doubles.
        sleep, clock, pool: injectable (``clock`` monotonic; the pool neither retries
            nor follows redirects here, whatever its settings).

    Raises ConfigError naming the option for a setting it cannot work with.
    """

    _log = log

    def __init__(
        self,
        url: str,
        body: Any,
        *,
        method: str = "POST",
        format: str = "json",
        auth: str = "none",
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        auth_header: str | None = None,
        accept_status: Iterable[int] = DEFAULT_ACCEPT,
        accept_field: str | None = None,
        accept_value: str | None = None,
        id_field: str | None = None,
        deadline: float = 10.0,
        connect_timeout: float = 2.0,
        max_attempts: int = 3,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        http_url(url, "url", ConfigError)
        if method.upper() not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.template = BodyTemplate(format, body)
        self._credentials = {"username": username, "password": password, "token": token}
        headers = {
            "Content-Type": self.template.content_type,
            "Accept": "application/json",
            "User-Agent": "tfa-engine",
            **_auth_headers(auth, username, password, token, auth_header),
        }
        unset = sorted(name for name, value in self._credentials.items()
                       if name in self.template.placeholders and not value)
        if unset:
            raise ConfigError(f"body uses {{{unset[0]}}} but {unset[0]} is not set")
        self.accept_status = frozenset(accept_status)
        if not self.accept_status or not all(200 <= s <= 299 for s in self.accept_status):
            raise ConfigError("accept_status must list HTTP statuses from 200 to 299")
        if (accept_field is None) != (accept_value is None):
            raise ConfigError("accept_field and accept_value go together")
        self.accept_field = None if accept_field is None else FieldPath(accept_field)
        self.accept_value = accept_value
        self.id_field = None if id_field is None else FieldPath(id_field)
        super().__init__(
            url, method.upper(), headers, deadline=deadline, connect_timeout=connect_timeout,
            read_timeout=None, max_attempts=max_attempts, backoff=backoff, sleep=sleep,
            clock=clock, pool=pool, error=ConfigError,
        )
        self.auth = auth
        self._secrets = [value for value in (password, token) if value]

    def __repr__(self) -> str:  # the URL may hold an account id, never a secret
        return f"{type(self).__name__}({self.url!r}, auth={self.auth!r})"

    @property
    def label(self) -> str:
        return self.name or "http"

    def payload(self, message: SmsMessage) -> bytes:
        """The body sent for ``message``."""
        return self.template.render({
            "to": message.recipient,
            "to_digits": message.recipient.lstrip("+"),
            "text": message.text,
            "sender": message.sender,
            "message_id": message.message_id,
            **{name: value for name, value in self._credentials.items() if value},
        })

    def check(self) -> None:
        """Send a body naming no message (``{}``, or an empty form) and raise
        :class:`HttpGatewayError` when the provider cannot be reached or refuses the
        credentials (401, 403). Credentials a provider reads from the body (Vonage's)
        are not judged: it refuses the empty body before it looks at them."""
        try:
            response = self._request(self.template.empty(), self.deadline)
        except Urllib3Error as exc:
            raise HttpGatewayError(f"{self.label}: {self.url} did not answer: "
                                   f"{type(exc).__name__}", status=None) from None
        if response.status in (401, 403):
            raise HttpGatewayError(
                f"{self.label}: the provider refused the credentials (HTTP "
                f"{response.status}{self._excerpt(response.data, None)})",
                status=response.status,
            )

    def send(self, message: SmsMessage) -> Accepted:
        """Hand ``message`` to the provider; raise :class:`HttpGatewayError` when it was
        not taken (``maybe_sent`` when it may have been)."""
        return self._send_body(message, self.payload(message))

    def _unanswered(self, sending: Sending, error: Urllib3Error) -> None:
        if isinstance(error, ConnectTimeoutError):  # no connection: nothing went out
            self._pause_or_fail(sending, type(error).__name__, None)
            return
        if isinstance(error, SSLError):
            raise self._fail(sending, type(error).__name__, None) from None
        sending.maybe_sent = True
        raise self._fail(sending, f"{type(error).__name__} after the request went out",
                         None) from None

    def _answered(self, sending: Sending, response: urllib3.BaseHTTPResponse) -> Accepted | None:
        status = response.status
        if status in self.accept_status:
            return self._accepted(sending, response.data, status)
        if status in _NOT_TAKEN:
            wait = _retry_after(response.headers.get("Retry-After"))
            self._pause_or_fail(sending, f"HTTP {status}", status, wait)
            return None
        detail = self._excerpt(response.data, sending.message)
        if status in (401, 403):
            raise self._fail(sending, f"the provider refused the credentials "
                             f"(HTTP {status}{detail})", status)
        # A 5xx other than 503 may come after the provider (or the proxy in front of
        # it) took the message; so may a 2xx this configuration does not expect.
        sending.maybe_sent = status >= 500 or 200 <= status <= 299
        raise self._fail(sending, f"HTTP {status}{detail}", status)

    def _accepted(self, sending: Sending, data: bytes, status: int) -> Accepted:
        message = sending.message
        answer: Any = None
        if self.accept_field is not None or self.id_field is not None:
            try:
                answer = decode_json(data)
            except ValueError:
                answer = None
        if self.accept_field is not None:
            found = scalar_text(self.accept_field.one(answer))
            if found != self.accept_value:
                shown = "nothing" if found is None else repr(scrub(found, message))
                raise self._fail(sending, f"HTTP {status} with {self.accept_field.text} = "
                                 f"{shown}{self._excerpt(data, message)}", status)
        provider_id = None
        if self.id_field is not None:
            provider_id = scalar_text(self.id_field.one(answer))
            if provider_id is None:
                # Taken all the same: failing now would have the client send it again.
                log.warning("%s took message_id=%s without an id at %s: its delivery "
                            "reports cannot be matched", self.label, message.message_id,
                            self.id_field.text)
        return Accepted(self.label, provider_id)

    def _retrying(self, sending: Sending, problem: str) -> None:
        log.warning("%s attempt %d/%d message_id=%s to=%s: %s", self.label, sending.attempt,
                    self.max_attempts, sending.message.message_id,
                    mask(sending.message.recipient), problem)

    def _error(self, reason: str, status: int | None, sending: Sending,
               retry_after: float | None) -> GatewayError:
        return HttpGatewayError(reason, status=status, retry_after=retry_after,
                                maybe_sent=sending.maybe_sent)

    def _excerpt(self, data: bytes, message: SmsMessage | None) -> str:
        """``: <the start of the answer>``, without the message, its number or a secret."""
        text = " ".join(data[: _EXCERPT * 4].decode("utf-8", "replace").split())
        if message is not None:
            text = scrub(text, message)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        if len(text) > _EXCERPT:
            text = text[: _EXCERPT - 3] + "..."
        return f": {text}" if text else ""


def _auth_headers(auth: str, username: str | None, password: str | None, token: str | None,
                  header: str | None) -> Mapping[str, str]:
    if auth == "none":
        return {}
    if auth == "basic":
        if not username or ":" in username or not password:
            raise ConfigError("auth = basic needs username (without ':') and password")
        # RFC 7617 allows UTF-8 credentials; urllib3's helper would encode Latin-1 only.
        pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    if auth == "bearer":
        if not token:
            raise ConfigError("auth = bearer needs token")
        return {"Authorization": f"Bearer {token}"}
    if auth == "header":
        if not header or not _HEADER_NAME.fullmatch(header) or not token:
            raise ConfigError("auth = header needs auth_header (a header name) and token")
        return {header: token}
    raise ConfigError(f"auth must be one of {', '.join(AUTHS)}, not {auth!r}")


def _retry_after(header: str | None) -> float | None:
    """``Retry-After`` in seconds (its date form is not honoured: a back-off instead)."""
    try:
        seconds = float(header) if header is not None else None
    except ValueError:
        return None
    return None if seconds is None or not 0 <= seconds < 86400 else seconds
