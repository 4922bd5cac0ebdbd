"""The mediariver simulator: an SMS catcher for development and tests (``tfa gateway-sim``)."""

from .faults import Faults
from .simulator import MediariverSimulator
from .wsgi import serve_simulator

__all__ = ["Faults", "MediariverSimulator", "serve_simulator"]
