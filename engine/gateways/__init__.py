"""SMS gateways behind one contract (:class:`Gateway`).

The gateways a user constructs (:class:`ConsoleGateway`, :class:`MemoryGateway`,
:class:`MediariverGateway`, :class:`HttpGateway` with the :class:`HttpReports` its
provider's webhook posts), the wrappers that make one resilient (:class:`CircuitBreaker`,
:class:`Failover`, :class:`Bulkhead`), and what an SMS is made of: :class:`SmsMessage`,
its :func:`segments`, the delivery statuses and qualities of the mediariver protocol.
"""

from .._segments import SegmentCount, segments
from ._base import (
    DELIVERY_STATUSES,
    QUALITIES,
    UNDELIVERED,
    Accepted,
    DeliveryReport,
    Gateway,
    GatewayError,
    ReportSink,
    SmsMessage,
)
from ._resilience import Bulkhead, CircuitBreaker, Failover, SlotsBusy
from .console import ConsoleGateway
from .http import HttpGateway, HttpGatewayError, HttpReports
from .mediariver import MediariverError, MediariverGateway
from .memory import MemoryGateway

__all__ = [
    "DELIVERY_STATUSES",
    "QUALITIES",
    "UNDELIVERED",
    "Accepted",
    "Bulkhead",
    "CircuitBreaker",
    "ConsoleGateway",
    "DeliveryReport",
    "Failover",
    "Gateway",
    "GatewayError",
    "HttpGateway",
    "HttpGatewayError",
    "HttpReports",
    "MediariverError",
    "MediariverGateway",
    "MemoryGateway",
    "ReportSink",
    "SegmentCount",
    "SlotsBusy",
    "SmsMessage",
    "segments",
]
