"""SMS gateways behind one contract (:class:`Gateway`)."""

from .base import Gateway, GatewayError, SmsMessage
from .console import ConsoleGateway
from .mediariver import MediariverError, MediariverGateway
from .memory import MemoryGateway
from .simulator import Faults, MediariverSimulator, serve_simulator

__all__ = [
    "ConsoleGateway",
    "Faults",
    "Gateway",
    "GatewayError",
    "MediariverError",
    "MediariverGateway",
    "MediariverSimulator",
    "MemoryGateway",
    "SmsMessage",
    "serve_simulator",
]
