"""Delivery reports from the SMS gateway: the endpoint's secret and the reports' shape."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from ._requests import decode_json
from .gateways._base import DELIVERY_STATUSES


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
