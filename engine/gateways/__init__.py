"""SMS gateways behind one contract (:class:`Gateway`)."""

from ._base import Gateway, GatewayError, SmsMessage
from .console import ConsoleGateway
from .mediariver import MediariverError, MediariverGateway
from .memory import MemoryGateway

__all__ = [
    "ConsoleGateway",
    "Gateway",
    "GatewayError",
    "MediariverError",
    "MediariverGateway",
    "MemoryGateway",
    "SmsMessage",
]
