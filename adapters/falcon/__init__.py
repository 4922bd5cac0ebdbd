"""The Falcon face of tfa-engine: the Fortytwo-compatible HTTP API as a WSGI app.

    from tfa_engine.adapters.falcon import create_app
    app = create_app(engine, trusted_proxies=["10.0.0.0/8"])
"""

from .app import DEFAULT_MAX_BODY, create_app

__all__ = ["DEFAULT_MAX_BODY", "create_app"]
