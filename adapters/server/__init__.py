"""The standalone service: settings from a TOML file and ``TFA_*`` variables, an engine
built from them, and the HTTP API served with waitress (``tfa serve``)."""

from .service import build_engine, make_gateway, open_configured_store
from .settings import Settings, load_settings

__all__ = [
    "Settings", "build_engine", "load_settings", "make_gateway", "open_configured_store",
]
