"""SMS gateways behind one contract (:class:`Gateway`).

The gateways a user constructs (:class:`ConsoleGateway`, :class:`MemoryGateway`,
:class:`MediariverGateway`, :class:`HttpGateway` with the :class:`HttpReports` its
provider's webhook posts), the wrappers that make one resilient (:class:`CircuitBreaker`,
:class:`Bulkhead`, both a :class:`WrappingGateway`), routes over several
(:class:`RoutedGateway`), and what an SMS is made of: :class:`SmsMessage`, its
:func:`segments`, the delivery statuses and qualities of the mediariver protocol.
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
    WrappingGateway,
)
from ._resilience import Bulkhead, CircuitBreaker, SlotsBusy
from ._routes import DEFAULT_ROUTE, Route, RoutedGateway
from .console import ConsoleGateway
from .http import HttpGateway, HttpGatewayError, HttpReports
from .mediariver import MediariverError, MediariverGateway
from .memory import MemoryGateway

__all__ = [
    "DEFAULT_ROUTE",
    "DELIVERY_STATUSES",
    "QUALITIES",
    "UNDELIVERED",
    "Accepted",
    "Bulkhead",
    "CircuitBreaker",
    "ConsoleGateway",
    "DeliveryReport",
    "Gateway",
    "GatewayError",
    "HttpGateway",
    "HttpGatewayError",
    "HttpReports",
    "MediariverError",
    "MediariverGateway",
    "MemoryGateway",
    "ReportSink",
    "Route",
    "RoutedGateway",
    "SegmentCount",
    "SlotsBusy",
    "SmsMessage",
    "WrappingGateway",
    "segments",
]
