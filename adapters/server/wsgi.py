"""A ready-made WSGI ``application`` for gunicorn, uWSGI or any other WSGI server::

    gunicorn --workers 4 --bind 127.0.0.1:8080 'tfa_engine.adapters.server.wsgi:application'

It is configured exactly as ``tfa serve`` is: ``TFA_*`` variables and the file named by
``$TFA_CONFIG``, read when this module is imported (a bad setting stops the worker there,
with its message). The engine is built on a process's first request, so a server that
imports the application before forking its workers (gunicorn's ``--preload``) shares no
connection or thread between them. Every worker signs callbacks alike only with a shared
key: ``TFA_CALLBACK_KEY`` (or ``TFA_PEPPER``) is required.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tfa_engine.config import ConfigError

from .service import build_engine
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Application:
    """A WSGI application serving the API on the engine ``settings`` describe."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        if not (self.settings.engine.callback_key or self.settings.engine.pepper):
            raise ConfigError(
                "a WSGI server runs several processes: set TFA_CALLBACK_KEY (or TFA_PEPPER) "
                "so that each signs callbacks with the same key"
            )
        self._app: WSGIApplication | None = None
        self._lock = threading.Lock()

    def _build(self) -> WSGIApplication:
        from ..falcon import create_app

        with self._lock:
            if self._app is None:
                engine = build_engine(self.settings)
                engine.start()
                app: Any = create_app(
                    engine,
                    trusted_proxies=self.settings.trusted_proxies,
                    forwarded_header=self.settings.forwarded_header,
                    max_body=self.settings.max_body,
                )
                self._app = app
            return self._app

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        app = self._app if self._app is not None else self._build()
        return app(environ, start_response)


application = Application()
