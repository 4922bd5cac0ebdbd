"""tfa-engine: SMS one-time codes, wire-compatible with the Fortytwo 2FA API.

The framework-free core. Embed it directly::

    from tfa_engine import Engine, EngineConfig, SQLiteStore, ConsoleGateway

    engine = Engine(SQLiteStore("tfa.db"), ConsoleGateway())
    issued = engine.create_token("shop")
    outcome = engine.request_code(issued.token, "127.0.0.1",
                                  {"client_ref": "login-42", "phone_number": "+447911123456"})
    outcome.status.code, outcome.result["message_id"]

The two API calls return an :class:`Outcome` whose :class:`Status` carries the Fortytwo
``status_code``, HTTP status and text; see :class:`Engine` for what the other methods
return or raise.

The public surface is this package's ``__all__`` and that of the public modules
:mod:`tfa_engine.store`, :mod:`tfa_engine.gateways`, :mod:`tfa_engine.config`,
:mod:`tfa_engine.catalogue` and :mod:`tfa_engine.audit` (docs/api.md lists it). Modules
whose name starts with an underscore are internal and may change without notice.
"""

from . import catalogue
from ._access import IssuedToken, token_from_header
from ._callbacks import verify_signature
from ._engine import Engine
from ._outcome import Outcome
from .catalogue import Status
from .config import ConfigError, EngineConfig, RateLimit
from .gateways import ConsoleGateway, MediariverGateway, MemoryGateway
from .store import MemoryStore, SQLiteStore, StoreError, StoreUnavailable

__version__ = "0.1.0"  # the one place the version is written (setup.py reads it here)

__all__ = [
    "ConfigError",
    "ConsoleGateway",
    "Engine",
    "EngineConfig",
    "IssuedToken",
    "MediariverGateway",
    "MemoryGateway",
    "MemoryStore",
    "Outcome",
    "RateLimit",
    "SQLiteStore",
    "Status",
    "StoreError",
    "StoreUnavailable",
    "__version__",
    "catalogue",
    "token_from_header",
    "verify_signature",
]
