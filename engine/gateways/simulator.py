"""A mediariver simulator: the gateway's ``POST /v2/send`` as a plain WSGI app, for development.

It behaves as mediariver documents it: Basic auth, whole-request validation with JSON-pointer
``location`` s, a per-customer rate limit answered with 429 and ``RateLimit-*`` headers, the
success body (``total_parts``/``parts`` only for concatenated messages, ``customer_uuid`` only
when a ``uuid`` was sent) and delivery reports POSTed to ``dlr_url``.

Like a mail catcher, it keeps what it received: ``GET /messages`` lists it, ``DELETE /messages``
forgets it. Faults can be switched on while it runs (``sim.faults.latency = 0.1`` or
``POST /_faults {"fail_status": 503, "fail_next": 2}``). The inspection and fault endpoints
have no authentication: serve it on loopback, for development and tests only.

Run it with :func:`serve_simulator` (waitress, from the ``server`` extra) or any WSGI server.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from email.utils import format_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from ..segments import segments
from .base import DELIVERY_STATUSES, QUALITIES

if TYPE_CHECKING:
    import urllib3
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("tfa.gateway.simulator")

MAX_MESSAGE_LENGTH = 640
CONCATENATED_ABOVE = 160  # mediariver's rule: parts are reported for texts longer than this
MAX_ALPHANUMERIC_SENDER = 11
MAX_NUMERIC_SENDER = 16
MAX_BODY = 1 << 20

NO_CREDENTIALS = "No credentials provided"
CREDENTIALS_REJECTED = "Credentials rejected"

_E164 = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
_NUMERIC_SENDER = re.compile(r"\+?([0-9]+)", re.ASCII)
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]+", re.ASCII)

Report = dict[str, str]
DlrPayload = Report | list[Report]
DlrPoster = Callable[[str, DlrPayload], object]
Error = dict[str, str]


@dataclass
class Faults:
    """Trouble to simulate on ``/v2/send``; change the attributes at any time.

    Attributes:
        latency: seconds to wait before answering each request normally (a slow gateway).
        hang: seconds to hold each request and then answer 503 without queuing anything (a
            stuck gateway: clients with a shorter read time-out see a time-out). 0 is off.
        fail_status: the HTTP status the next ``fail_next`` requests get, before auth.
        fail_next: how many requests still get ``fail_status``.
        force_429: how many authenticated requests still get a 429, whatever the limit.
        retry_after_ms: the ``RateLimit-Retry-After`` of those forced 429s.
    """

    latency: float = 0.0
    hang: float = 0.0
    fail_status: int = 500
    fail_next: int = 0
    force_429: int = 0
    retry_after_ms: int = 1000

    def reset(self) -> None:
        """Switch every fault off."""
        for spec in fields(self):
            setattr(self, spec.name, spec.default)

    def update(self, changes: Mapping[str, object]) -> list[Error]:
        """Apply ``changes`` (as sent to ``POST /_faults``); errors, and nothing applied, if bad."""
        errors: list[Error] = []
        accepted: dict[str, object] = {}
        for name, value in changes.items():
            if name == "reset":
                if not isinstance(value, bool):
                    errors.append(_error("/reset", "should be boolean"))
                continue
            problem = _fault_problem(name, value)
            if problem:
                errors.append(_error(f"/{name}", problem))
            else:
                accepted[name] = value
        if errors:
            return errors
        if changes.get("reset") is True:
            self.reset()
        for name, value in accepted.items():
            setattr(self, name, value)
        return []


def _fault_problem(name: str, value: object) -> str | None:
    """Why ``value`` cannot be fault ``name``, or None."""
    if name in ("latency", "hang"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "should be number"
        return None if 0 <= value < math.inf else "should be >= 0"
    if name in ("fail_next", "force_429", "retry_after_ms"):
        if isinstance(value, bool) or not isinstance(value, int):
            return "should be integer"
        return None if value >= 0 else "should be >= 0"
    if name == "fail_status":
        if isinstance(value, bool) or not isinstance(value, int):
            return "should be integer"
        return None if 400 <= value <= 599 else "should be an HTTP error status (400-599)"
    return "is not a known fault"


def _error(location: str, message: str) -> Error:
    return {"location": location, "message": message}


def validate(payload: object) -> list[Error]:
    """Every reason mediariver would reject ``payload``, with JSON-pointer locations.

    Messages follow mediariver's (JSON-schema validator) wording; a missing property is
    reported at its parent, as that validator does.
    """
    if not isinstance(payload, dict):
        return [_error("", "should be object")]
    if "messages" not in payload:
        return [_error("", "should have required property 'messages'")]
    messages = payload["messages"]
    if not isinstance(messages, list):
        return [_error("/messages", "should be array")]
    if not messages:
        return [_error("/messages", "should NOT have fewer than 1 items")]
    errors: list[Error] = []
    for index, item in enumerate(messages):
        errors.extend(_validate_message(f"/messages/{index}", item))
    return errors


def _validate_message(at: str, item: object) -> list[Error]:
    if not isinstance(item, dict):
        return [_error(at, "should be object")]
    errors = [
        _error(at, f"should have required property '{name}'")
        for name in ("recipients", "quality", "message")
        if name not in item
    ]
    if "recipients" in item:
        errors.extend(_validate_recipients(f"{at}/recipients", item["recipients"]))
    quality = item.get("quality")
    if "quality" in item and quality not in QUALITIES:
        errors.append(_error(f"{at}/quality", "should be equal to one of the allowed values"))
    if "message" in item:
        errors.extend(_validate_text(f"{at}/message", item["message"]))
    if "sender" in item:
        errors.extend(_validate_sender(f"{at}/sender", item["sender"]))
        if quality in QUALITIES and quality != "H":
            errors.append(_error(f"{at}/sender", "is allowed only with quality H"))
    if "uuid" in item and not isinstance(item["uuid"], str):
        errors.append(_error(f"{at}/uuid", "should be string"))
    return errors


def _validate_recipients(at: str, recipients: object) -> list[Error]:
    if not isinstance(recipients, list):
        return [_error(at, "should be array")]
    if not recipients:
        return [_error(at, "should NOT have fewer than 1 items")]
    errors: list[Error] = []
    for index, recipient in enumerate(recipients):
        if not isinstance(recipient, str):
            errors.append(_error(f"{at}/{index}", "should be string"))
        elif not _E164.fullmatch(recipient):
            errors.append(_error(f"{at}/{index}", 'should match format "e164"'))
    return errors


def _validate_text(at: str, text: object) -> list[Error]:
    if not isinstance(text, str):
        return [_error(at, "should be string")]
    if not text:
        return [_error(at, "should NOT be shorter than 1 characters")]
    if len(text) > MAX_MESSAGE_LENGTH:
        return [_error(at, f"should NOT be longer than {MAX_MESSAGE_LENGTH} characters")]
    return []


def _validate_sender(at: str, sender: object) -> list[Error]:
    if not isinstance(sender, str):
        return [_error(at, "should be string")]
    if not sender:
        return [_error(at, "should NOT be shorter than 1 characters")]
    numeric = _NUMERIC_SENDER.fullmatch(sender)
    if numeric:
        if len(numeric.group(1)) > MAX_NUMERIC_SENDER:
            return [_error(at, f"should NOT be longer than {MAX_NUMERIC_SENDER} characters")]
        return []
    if not _ALPHANUMERIC_SENDER.fullmatch(sender):
        return [_error(at, 'should match pattern "^[A-Za-z0-9 ]+$"')]
    if len(sender) > MAX_ALPHANUMERIC_SENDER:
        return [_error(at, f"should NOT be longer than {MAX_ALPHANUMERIC_SENDER} characters")]
    return []


@dataclass
class _Window:
    """One customer's fixed rate-limit window."""

    start: float
    used: int


@dataclass(order=True)
class _Due:
    """Delivery reports waiting for their time."""

    at: float
    seq: int  # unique: ties on ``at`` never compare the rest
    url: str
    payload: DlrPayload


class MediariverSimulator:
    """The mediariver gateway as a WSGI application (thread-safe).

    Args:
        username, password: the only account; its Basic-auth credentials.
        dlr_url: where delivery reports go; None sends none.
        dlr_statuses: the ``delivery_status`` values handed out in turn, one per SMS.
        dlr_delay: seconds between accepting a message and reporting on it.
        dlr_batch: one JSON array per accepted request instead of one object per SMS.
        rate_limit: ``(count, seconds)``: SMS (recipients) per fixed window; None: no limit.
        clock: monotonic time for the rate-limit windows.
        wall_clock: epoch seconds for ``received_at``, ``delivery_date`` and ``RateLimit-Reset``.
        post: ``post(url, payload)`` sends one delivery report request; by default a JSON
            POST with urllib3. Failures are logged and the report dropped.

    A report's ``uuid`` is the customer's ``uuid`` when the request had one, as mediariver
    does, else the simulator's own: the service sends its ``message_id`` as ``uuid`` and
    matches reports on it.
    """

    def __init__(
        self,
        *,
        username: str = "sim",
        password: str = "sim",  # noqa: S107 - a development account, documented
        dlr_url: str | None = None,
        dlr_statuses: Iterable[str] = ("DELIVRD",),
        dlr_delay: float = 0.0,
        dlr_batch: bool = False,
        rate_limit: tuple[int, float] | None = (100, 1.0),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        post: DlrPoster | None = None,
    ) -> None:
        statuses = tuple(dlr_statuses)
        if not statuses or any(status not in DELIVERY_STATUSES for status in statuses):
            raise ValueError(f"dlr_statuses must be some of {', '.join(DELIVERY_STATUSES)}")
        if dlr_delay < 0:
            raise ValueError("dlr_delay must not be negative")
        if rate_limit is not None and (rate_limit[0] < 1 or not rate_limit[1] > 0):
            raise ValueError("rate_limit must be (count >= 1, seconds > 0) or None")
        self.username = username
        self.password = password
        self.dlr_url = dlr_url
        self.dlr_statuses = statuses
        self.dlr_delay = dlr_delay
        self.dlr_batch = dlr_batch
        self.rate_limit = rate_limit
        self.faults = Faults()
        self._clock = clock
        self._wall_clock = wall_clock
        self._post: DlrPoster = post if post is not None else self._post_with_urllib3
        self._pool: urllib3.PoolManager | None = None

        self._lock = threading.Lock()  # messages, windows, fault counters, status cycle
        self._messages: list[dict[str, Any]] = []
        self._windows: dict[str, _Window] = {}
        self._status_cycle = itertools.cycle(statuses)

        self._stopped = threading.Event()  # wakes requests held by latency or hang
        self._dlr_ready = threading.Condition()
        self._dlr_due: list[_Due] = []
        self._dlr_seq = itertools.count()
        self._dlr_busy = 0
        self._dlr_thread: threading.Thread | None = None

        self._routes: dict[str, dict[str, Callable[[WSGIEnvironment], _Answer]]] = {
            "/v2/send": {"POST": self._send},
            "/messages": {"GET": self._list_messages, "DELETE": self._clear_messages},
            "/_faults": {"GET": self._get_faults, "POST": self._set_faults},
            "/health": {"GET": self._health},
        }

    # -- inspection ----------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What was accepted, one entry per recipient, oldest first (copies)."""
        with self._lock:
            return [dict(entry) for entry in self._messages]

    def clear(self) -> None:
        """Forget the accepted messages."""
        with self._lock:
            self._messages.clear()

    def drain(self, timeout: float) -> bool:
        """Wait until every scheduled delivery report was posted; False if time ran out."""
        end = time.monotonic() + timeout
        with self._dlr_ready:
            while self._dlr_due or self._dlr_busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._dlr_ready.wait(left)
        return True

    @property
    def pending_reports(self) -> int:
        """Delivery report requests scheduled and not yet posted."""
        with self._dlr_ready:
            return len(self._dlr_due) + self._dlr_busy

    def close(self) -> None:
        """Stop the report thread (dropping unsent reports) and release held requests."""
        self._stopped.set()
        with self._dlr_ready:
            self._dlr_due.clear()
            self._dlr_ready.notify_all()
            thread = self._dlr_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if self._pool is not None:
            self._pool.clear()

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        handlers = self._routes.get(path)
        if handlers is None:
            answer = _Answer(404, {"errors": [{"message": "not found"}]})
        elif method not in handlers:
            answer = _Answer(
                405,
                {"errors": [{"message": "method not allowed"}]},
                {"Allow": ", ".join(sorted(handlers))},
            )
        else:
            answer = handlers[method](environ)
        return answer.respond(start_response)

    def _consume_fault(self, counter: str) -> bool:
        """True (and one fewer left) while the fault counter ``counter`` is above zero."""
        with self._lock:
            left = getattr(self.faults, counter)
            if left > 0:
                setattr(self.faults, counter, left - 1)
            return bool(left > 0)

    def _send(self, environ: WSGIEnvironment) -> _Answer:
        faults = self.faults
        if faults.hang > 0:
            self._stopped.wait(faults.hang)
            return _Answer(503, {"errors": [{"message": "gateway did not answer in time"}]})
        if faults.latency > 0:
            self._stopped.wait(faults.latency)
        if self._consume_fault("fail_next"):
            return _Answer(faults.fail_status, {"errors": [{"message": "simulated failure"}]})

        customer, problem = self._authenticate(environ.get("HTTP_AUTHORIZATION"))
        if customer is None:
            challenge = {"WWW-Authenticate": 'Basic realm="mediariver"'}
            return _Answer(401, {"errors": [{"message": problem}]}, challenge)

        if self._consume_fault("force_429"):
            headers = self._limit_headers(customer, retry_after_ms=faults.retry_after_ms)
            headers["RateLimit-Remaining"] = "0"
            return _Answer(429, {"errors": [{"message": "too many requests"}]}, headers)

        payload, errors = _read_json(environ)
        if not errors:
            errors = validate(payload)
        if errors:
            return _Answer(400, {"errors": errors}, self._limit_headers(customer))
        items = cast(list[dict[str, Any]], cast(dict[str, Any], payload)["messages"])
        wanted = sum(len(item["recipients"]) for item in items)
        retry_after_ms = self._take(customer, wanted)
        if retry_after_ms is not None:
            headers = self._limit_headers(customer, retry_after_ms=retry_after_ms)
            return _Answer(429, {"errors": [{"message": "too many requests"}]}, headers)
        return _Answer(200, self._queue(items), self._limit_headers(customer))

    def _authenticate(self, header: str | None) -> tuple[str | None, str]:
        """The customer's name, or None and mediariver's reason."""
        if not header:
            return None, NO_CREDENTIALS
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return None, NO_CREDENTIALS
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, CREDENTIALS_REJECTED
        username, _, password = decoded.partition(":")
        # Compared as a whole so that a wrong name and a wrong password look alike.
        if (username, password) != (self.username, self.password):
            return None, CREDENTIALS_REJECTED
        return username, ""

    def _take(self, customer: str, wanted: int) -> int | None:
        """Count ``wanted`` SMS against the customer's window; the wait in ms when over."""
        if self.rate_limit is None:
            return None
        count, seconds = self.rate_limit
        now = self._clock()
        with self._lock:
            window = self._windows.get(customer)
            if window is None or now >= window.start + seconds:
                window = self._windows[customer] = _Window(now, 0)
            if window.used + wanted > count:
                return max(1, math.ceil((window.start + seconds - now) * 1000))
            window.used += wanted
            return None

    def _limit_headers(self, customer: str, *, retry_after_ms: int = 0) -> dict[str, str]:
        """The ``RateLimit-*`` headers mediariver adds to every answer to a customer."""
        if self.rate_limit is None:
            return {"RateLimit-Retry-After": str(retry_after_ms)}
        count, seconds = self.rate_limit
        now = self._clock()
        with self._lock:
            window = self._windows.get(customer)
            if window is None or now >= window.start + seconds:
                used, ends_in = 0, seconds
            else:
                used, ends_in = window.used, window.start + seconds - now
        reset = datetime.fromtimestamp(self._wall_clock() + ends_in, timezone.utc)
        return {
            "RateLimit-Limit": str(count),
            "RateLimit-Remaining": str(max(0, count - used)),
            "RateLimit-Reset": format_datetime(reset, usegmt=True),
            "RateLimit-Retry-After": str(retry_after_ms),
        }

    def _queue(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Keep the accepted messages, schedule their reports, and build the answer."""
        concatenated = any(len(item["message"]) > CONCATENATED_ABOVE for item in items)
        received_at = _iso(self._wall_clock())
        details: list[dict[str, Any]] = []
        reports: list[Report] = []
        entries: list[dict[str, Any]] = []
        for item in items:
            own_uuid = str(uuid.uuid4())
            recipients: list[str] = item["recipients"]
            parts = segments(item["message"]).parts
            detail: dict[str, Any] = {"uuid": own_uuid}
            if "uuid" in item:
                detail["customer_uuid"] = item["uuid"]
            detail["queued"] = len(recipients)
            if concatenated:
                detail["parts"] = parts * len(recipients)
            detail["quality"] = item["quality"]
            details.append(detail)
            for recipient in recipients:
                entries.append(
                    {
                        "recipient": recipient,
                        "sender": item.get("sender"),
                        "message": item["message"],
                        "uuid": own_uuid,
                        "customer_uuid": item.get("uuid"),
                        "quality": item["quality"],
                        "parts": parts,
                        "received_at": received_at,
                    }
                )
                reports.append({"msisdn": recipient, "uuid": item.get("uuid", own_uuid)})
        with self._lock:
            self._messages.extend(entries)
        if self.dlr_url is not None:
            self._schedule(self.dlr_url, reports)
        answer: dict[str, Any] = {"total_queued": sum(d["queued"] for d in details)}
        if concatenated:
            answer["total_parts"] = sum(d["parts"] for d in details)
        answer["details"] = details
        return answer

    def _list_messages(self, environ: WSGIEnvironment) -> _Answer:
        return _Answer(200, self.messages)

    def _clear_messages(self, environ: WSGIEnvironment) -> _Answer:
        self.clear()
        return _Answer(200, {"cleared": True})

    def _get_faults(self, environ: WSGIEnvironment) -> _Answer:
        return _Answer(200, asdict(self.faults))

    def _set_faults(self, environ: WSGIEnvironment) -> _Answer:
        changes, errors = _read_json(environ)
        if not errors and not isinstance(changes, dict):
            errors = [_error("", "should be object")]
        if not errors:
            with self._lock:
                errors = self.faults.update(cast(dict[str, object], changes))
        if errors:
            return _Answer(400, {"errors": errors})
        return _Answer(200, asdict(self.faults))

    def _health(self, environ: WSGIEnvironment) -> _Answer:
        return _Answer(200, {"status": "ok"})

    # -- delivery reports ----------------------------------------------------------------

    def _schedule(self, url: str, reports: list[Report]) -> None:
        """Give each report its status in turn and queue it for ``dlr_delay`` from now."""
        with self._lock:
            for report in reports:
                report["delivery_status"] = next(self._status_cycle)
        payloads: list[DlrPayload] = [reports] if self.dlr_batch else list(reports)
        at = time.monotonic() + self.dlr_delay
        with self._dlr_ready:
            if self._stopped.is_set():
                return
            for payload in payloads:
                heapq.heappush(self._dlr_due, _Due(at, next(self._dlr_seq), url, payload))
            if self._dlr_thread is None:
                self._dlr_thread = threading.Thread(
                    target=self._deliver_reports, name="mediariver-simulator-dlr", daemon=True
                )
                self._dlr_thread.start()
            self._dlr_ready.notify_all()

    def _deliver_reports(self) -> None:
        """The report thread: post each payload when it falls due, until closed."""
        while True:
            with self._dlr_ready:
                while True:
                    if self._stopped.is_set():
                        return
                    wait = self._dlr_due[0].at - time.monotonic() if self._dlr_due else None
                    if wait is not None and wait <= 0:
                        due = heapq.heappop(self._dlr_due)
                        self._dlr_busy += 1
                        break
                    self._dlr_ready.wait(wait)
            try:
                self._post(due.url, _dated(due.payload, self._wall_clock()))
            except Exception:  # a lost report must not stop the thread
                log.exception("delivery report to %s failed", due.url)
            finally:
                with self._dlr_ready:
                    self._dlr_busy -= 1
                    self._dlr_ready.notify_all()

    def _post_with_urllib3(self, url: str, payload: DlrPayload) -> object:
        """The default ``post``: one JSON POST, no retries, no redirects."""
        import urllib3

        if self._pool is None:
            self._pool = urllib3.PoolManager(num_pools=2, maxsize=2, retries=False)
        response = self._pool.request(
            "POST",
            url,
            body=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=urllib3.Timeout(connect=2.0, read=5.0),
            retries=False,
            redirect=False,
        )
        log.info("delivery report posted to %s: HTTP %d", url, response.status)
        return response.status


def _dated(payload: DlrPayload, now: float) -> DlrPayload:
    """The payload with ``delivery_date`` (mediariver's ``YYYY-MM-DD HH:mm:ss``, UTC) set."""
    date = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(payload, list):
        return [_report(report, date) for report in payload]
    return _report(payload, date)


def _report(report: Report, date: str) -> Report:
    return {
        "msisdn": report["msisdn"],
        "delivery_status": report["delivery_status"],
        "delivery_date": date,
        "uuid": report["uuid"],
    }


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _read_json(environ: WSGIEnvironment) -> tuple[object, list[Error]]:
    """The decoded JSON body, or errors saying why there is none."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        return None, [_error("", f"should NOT be larger than {MAX_BODY} bytes")]
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return json.loads(raw), []
    except ValueError:  # UnicodeDecodeError included
        return None, [_error("", "should be valid JSON")]


@dataclass
class _Answer:
    """A JSON response waiting to be written."""

    status: int
    body: object
    headers: Mapping[str, str] | None = None

    def respond(self, start_response: StartResponse) -> list[bytes]:
        data = json.dumps(self.body).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
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
    sim: MediariverSimulator | WSGIApplication,
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
