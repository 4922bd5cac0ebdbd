"""tfa-engine: SMS one-time codes, wire-compatible with the Fortytwo 2FA API.

The framework-free core. Embed it directly::

    from tfa_engine import Engine, EngineConfig, SQLiteStore, ConsoleGateway

    engine = Engine(SQLiteStore("tfa.db"), ConsoleGateway())
    issued = engine.create_token("shop")
    outcome = engine.request_code(issued.token, "127.0.0.1",
                                  {"client_ref": "login-42", "phone_number": "+447911123456"})
    outcome.status.code, outcome.result["message_id"]

Every call returns an :class:`Outcome` whose :class:`Status` carries the Fortytwo
``status_code``, HTTP status and text.
"""

from . import catalogue
from ._access import IssuedToken, TokenRecord, token_from_header
from ._callbacks import verify_signature
from ._codes import canonical_code, generate_code
from ._engine import Engine
from ._hashing import PROFILES, CodeHasher
from ._outcome import Outcome
from ._phones import to_e164
from ._segments import SegmentCount, segments
from .catalogue import Status
from .config import ConfigError, EngineConfig, RateLimit
from .gateways import (
    ConsoleGateway,
    Gateway,
    GatewayError,
    MediariverGateway,
    MemoryGateway,
    SmsMessage,
)
from .store import MemoryStore, SQLiteStore, Store, StoreError, StoreUnavailable

__version__ = "0.1.0"  # the one place the version is written (setup.py reads it here)

__all__ = [
    "PROFILES",
    "CodeHasher",
    "ConfigError",
    "ConsoleGateway",
    "Engine",
    "EngineConfig",
    "Gateway",
    "GatewayError",
    "IssuedToken",
    "MediariverGateway",
    "MemoryGateway",
    "MemoryStore",
    "Outcome",
    "RateLimit",
    "SQLiteStore",
    "SegmentCount",
    "SmsMessage",
    "Status",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TokenRecord",
    "canonical_code",
    "catalogue",
    "generate_code",
    "segments",
    "to_e164",
    "token_from_header",
    "verify_signature",
]
