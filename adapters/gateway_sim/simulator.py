"""A mediariver simulator: the gateway's ``POST /v2/send`` as a plain WSGI app, for development.

It behaves as mediariver documents it: Basic auth, whole-request validation with JSON-pointer
``location`` s, a per-customer rate limit answered with 429 and ``RateLimit-*`` headers, the
success body (``total_parts``/``parts`` only for concatenated messages, ``customer_uuid`` only
when a ``uuid`` was sent) and delivery reports POSTed to ``dlr_url``.

Like a mail catcher, it keeps what it received: ``GET /messages`` lists it (with the last
delivery report of each SMS), ``DELETE /messages`` forgets it, and ``GET /`` shows it to a
browser, where a delivery report can be sent for any SMS (see :mod:`.inbox`). Faults can be
switched on while it runs (``sim.faults.latency = 0.1`` or ``POST /_faults {"fail_status":
503, "fail_next": 2}``). The inspection, inbox and fault endpoints have no authentication:
serve it on loopback, for development and tests only.

Run it with :func:`serve_simulator` (waitress, from the ``server`` extra) or any WSGI server.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from tfa_engine.gateways import DELIVERY_STATUSES, segments

from .deliveries import DeliveryLog
from .faults import Faults
from .inbox import Inbox
from .ratelimit import CustomerLimits
from .reports import DlrPayload, DlrPoster, Report, ReportSender
from .validation import error, read_json, validate
from .wsgi import Answer, authenticate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CONCATENATED_ABOVE = 160  # mediariver's rule: parts are reported for texts longer than this


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
        self.username = username
        self.password = password
        self.dlr_url = dlr_url
        self.dlr_statuses = statuses
        self.dlr_delay = dlr_delay
        self.dlr_batch = dlr_batch
        self.faults = Faults()
        self._limits = CustomerLimits(rate_limit, clock, wall_clock)
        self._clock = clock
        self._wall_clock = wall_clock
        self._deliveries = DeliveryLog()
        self._reports = ReportSender(post, wall_clock, self._deliveries.posted)

        self._lock = threading.Lock()  # messages, fault counters, status cycle
        self._messages: list[dict[str, Any]] = []
        self._status_cycle = itertools.cycle(statuses)
        self._stopped = threading.Event()  # wakes requests held by latency or hang

        self._routes: dict[str, dict[str, Callable[[WSGIEnvironment], Answer]]] = {
            "/v2/send": {"POST": self._send},
            "/messages": {"GET": self._list_messages, "DELETE": self._clear_messages},
            "/_faults": {"GET": self._get_faults, "POST": self._set_faults},
            "/health": {"GET": self._health},
        }
        self._inbox = Inbox(self)  # the browser's pages: more routes

    # -- inspection ----------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What was accepted, one entry per recipient, oldest first (copies); an entry
        has a ``report`` once a delivery report was posted for it."""
        with self._lock:
            return [self._deliveries.annotate(dict(entry)) for entry in self._messages]

    def clear(self) -> None:
        """Forget the accepted messages."""
        with self._lock:
            self._messages.clear()
            self._deliveries.clear()

    def report(self, message_uuid: str, status: str, recipient: str | None = None) -> int:
        """Post a delivery report with ``status`` to ``dlr_url`` now, for the SMS whose
        (simulator's) ``uuid`` is ``message_uuid``: to ``recipient``, or to each of its
        recipients. Returns how many reports were scheduled (0: no such SMS).
        Raises ValueError for an unknown status or when there is no ``dlr_url``."""
        if status not in DELIVERY_STATUSES:
            raise ValueError(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        if self.dlr_url is None:
            raise ValueError("no dlr_url: the simulator sends no delivery reports")
        with self._lock:
            reports: list[DlrPayload] = [
                {"msisdn": entry["recipient"], "delivery_status": status,
                 "uuid": entry["customer_uuid"] or entry["uuid"]}
                for entry in self._messages
                if entry["uuid"] == message_uuid and recipient in (None, entry["recipient"])
            ]
        if reports:
            self._reports.schedule(self.dlr_url, reports, 0.0)
        return len(reports)

    def drain(self, timeout: float) -> bool:
        """Wait until every scheduled delivery report was posted; False if time ran out."""
        return self._reports.drain(timeout)

    @property
    def pending_reports(self) -> int:
        """Delivery report requests scheduled and not yet posted."""
        return self._reports.pending

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """``(count, seconds)``: SMS per customer in a fixed window; None: no limit."""
        return self._limits.limit

    @rate_limit.setter
    def rate_limit(self, limit: tuple[int, float] | None) -> None:
        self._limits = CustomerLimits(limit, self._clock, self._wall_clock)

    def close(self) -> None:
        """Stop the report thread (dropping unsent reports) and release held requests."""
        self._stopped.set()
        self._reports.close()

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        handlers = self._routes.get(path) or self._inbox.route(path)
        if handlers is None:
            answer = Answer(404, {"errors": [{"message": "not found"}]})
        elif method not in handlers:
            answer = Answer(
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

    def _send(self, environ: WSGIEnvironment) -> Answer:
        faults = self.faults
        if faults.hang > 0:
            self._stopped.wait(faults.hang)
            return Answer(503, {"errors": [{"message": "gateway did not answer in time"}]})
        if faults.latency > 0:
            self._stopped.wait(faults.latency)
        if self._consume_fault("fail_next"):
            return Answer(faults.fail_status, {"errors": [{"message": "simulated failure"}]})

        customer, problem = authenticate(
            environ.get("HTTP_AUTHORIZATION"), self.username, self.password
        )
        if customer is None:
            challenge = {"WWW-Authenticate": 'Basic realm="mediariver"'}
            return Answer(401, {"errors": [{"message": problem}]}, challenge)

        if self._consume_fault("force_429"):
            headers = self._limits.headers(customer, retry_after_ms=faults.retry_after_ms)
            headers["RateLimit-Remaining"] = "0"
            return Answer(429, {"errors": [{"message": "too many requests"}]}, headers)

        payload, errors = read_json(environ)
        if not errors:
            errors = validate(payload)
        if errors:
            return Answer(400, {"errors": errors}, self._limits.headers(customer))
        items = cast(list[dict[str, Any]], cast(dict[str, Any], payload)["messages"])
        wanted = sum(len(item["recipients"]) for item in items)
        retry_after_ms = self._limits.take(customer, wanted)
        if retry_after_ms is not None:
            headers = self._limits.headers(customer, retry_after_ms=retry_after_ms)
            return Answer(429, {"errors": [{"message": "too many requests"}]}, headers)
        return Answer(200, self._queue(items), self._limits.headers(customer))

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
            with self._lock:
                for report in reports:
                    report["delivery_status"] = next(self._status_cycle)
            payloads: list[DlrPayload] = [reports] if self.dlr_batch else list(reports)
            self._reports.schedule(self.dlr_url, payloads, self.dlr_delay)
        answer: dict[str, Any] = {"total_queued": sum(d["queued"] for d in details)}
        if concatenated:
            answer["total_parts"] = sum(d["parts"] for d in details)
        answer["details"] = details
        return answer

    def _list_messages(self, environ: WSGIEnvironment) -> Answer:
        return Answer(200, self.messages)

    def _clear_messages(self, environ: WSGIEnvironment) -> Answer:
        self.clear()
        return Answer(200, {"cleared": True})

    def _get_faults(self, environ: WSGIEnvironment) -> Answer:
        return Answer(200, asdict(self.faults))

    def _set_faults(self, environ: WSGIEnvironment) -> Answer:
        changes, errors = read_json(environ)
        if not errors and not isinstance(changes, dict):
            errors = [error("", "should be object")]
        if not errors:
            with self._lock:
                errors = self.faults.update(cast(dict[str, object], changes))
        if errors:
            return Answer(400, {"errors": errors})
        return Answer(200, asdict(self.faults))

    def _health(self, environ: WSGIEnvironment) -> Answer:
        return Answer(200, {"status": "ok"})


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
