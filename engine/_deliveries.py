"""Delivery reports from the SMS gateways: the endpoint's secret, the shape of
mediariver's reports, and the desk that stores every gateway's reports."""

from __future__ import annotations

import hmac
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ._requests import decode_json
from .gateways._base import DELIVERY_STATUSES, DeliveryReport
from .store import Store

log = logging.getLogger("tfa.deliveries")


def secret_matches(expected: str | None, given: str) -> bool:
    """True when ``given`` is the configured delivery-report secret (constant time);
    always False when none is configured (the endpoint is then closed)."""
    return bool(expected) and hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), str(expected).encode()
    )


def parse_reports(payload: Any) -> list[tuple[str, str]]:
    """``(message_id, status)`` of each mediariver report in a payload: one object or an
    array of ``{msisdn, delivery_status, delivery_date, uuid}``, raw or decoded. A status
    that is not one of the SMPP final states becomes ``UNKNOWN``. Raises ValueError when
    the payload is not of that shape."""
    if isinstance(payload, (bytes, bytearray, str)):
        payload = decode_json(payload)
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(
        isinstance(item, Mapping)
        and isinstance(item.get("uuid"), str)
        and isinstance(item.get("delivery_status"), str)
        for item in items
    ):
        raise ValueError("not a delivery report")
    reports = []
    for item in items:
        status = item["delivery_status"].upper()
        reports.append((item["uuid"], status if status in DELIVERY_STATUSES else "UNKNOWN"))
    return reports


DeliveryListener = Callable[[str, str], None]  # (gateway, status) of each report stored
PARK_FOR = 120.0  # seconds a report for a message not yet known is kept and tried again
PARK_MAX = 10_000  # reports kept at most (the oldest go first)


class DeliveryDesk:
    """Where delivery reports come in: mediariver's (naming our message_id) through the
    API, and those a gateway receives itself (an SMPP receipt naming the provider's id),
    handed over by :meth:`provider_report`.

    A provider's report can come before the code's activation has stored the provider's id
    (the receipt overtakes the gateway's answer on its way to the database): such a report
    is kept for :data:`PARK_FOR` seconds and tried again by :meth:`retry_parked`. Each
    report stored is told to the listeners as (gateway, status), for the metrics.
    """

    def __init__(self, store: Store, clock: Callable[[], float],
                 stored: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self._stored = stored  # called after reports were stored (callbacks may wait)
        self._listeners: list[DeliveryListener] = []
        self._lock = threading.Lock()
        self._parked: deque[tuple[float, DeliveryReport]] = deque(maxlen=PARK_MAX)

    def listen(self, listener: DeliveryListener) -> None:
        """Call ``listener(gateway, status)`` for each report stored from now on."""
        self._listeners.append(listener)

    def mediariver_reports(self, payload: Any) -> int:
        """Store each report of a mediariver payload; how many changed a message."""
        applied = 0
        for message_id, status in parse_reports(payload):
            if self._record(message_id, status, self.clock()):
                applied += 1
        if applied:
            self._stored()
        return applied

    def provider_report(self, report: DeliveryReport) -> None:
        """Store a report a gateway received, or keep it a while if its message is not
        known yet (thread-safe: gateways call it from their own threads)."""
        if self._apply(report):
            self._stored()
            return
        with self._lock:
            self._parked.append((self.clock(), report))

    def retry_parked(self) -> int:
        """Try the kept reports again; drop those kept past :data:`PARK_FOR`. Returns how
        many were stored."""
        with self._lock:
            parked, self._parked = list(self._parked), deque(maxlen=PARK_MAX)
        now, stored, kept = self.clock(), 0, []
        for since, report in parked:
            if self._apply(report):
                stored += 1
            elif now - since < PARK_FOR:
                kept.append((since, report))
            else:
                log.warning("delivery report of %s for %s dropped: no such message",
                            report.gateway, report.provider_id)
        with self._lock:
            self._parked.extendleft(reversed(kept))
        if stored:
            self._stored()
        return stored

    @property
    def parked(self) -> int:
        """Reports kept for a message not yet known."""
        with self._lock:
            return len(self._parked)

    def _apply(self, report: DeliveryReport) -> bool:
        """True when the report's message is known (the report stored or a repeat)."""
        message_id = self.store.message_of(report.gateway, report.provider_id)
        if message_id is None:
            return False
        status = report.status if report.status in DELIVERY_STATUSES else "UNKNOWN"
        self._record(message_id, status, report.at)
        return True

    def told(self, gateway: str, status: str) -> None:
        """Tell the listeners of a report stored (also one the activation of its code found
        stored before it: the code did not name its gateway yet)."""
        for listener in self._listeners:
            listener(gateway, status)

    def _record(self, message_id: str, status: str, at: float) -> bool:
        recorded = self.store.record_delivery(message_id, status, at)
        if recorded is None:
            return False
        if recorded.gateway is not None:  # else the code's activation tells it
            self.told(recorded.gateway, status)
        return True
