"""A ready-made WSGI ``application`` for gunicorn, uWSGI or any other WSGI server::

    gunicorn --workers 4 --bind 127.0.0.1:8080 'tfa_engine.adapters.server.wsgi:application'

It is configured exactly as ``tfa serve`` is, and built by the same function
(:func:`~tfa_engine.adapters.server.app.build_service`): ``TFA_*`` variables and the file
named by ``$TFA_CONFIG``, read when this module is imported (a bad setting stops the
worker there, with its message), give the log format, ``/metrics``, the access log, the
trusted proxies and the body limit. The service is built on a process's first request,
so a server that imports the application before forking its workers (gunicorn's
``--preload``) shares no connection or thread between them. Every worker signs callbacks
alike only with a shared key: ``TFA_CALLBACK_KEY`` (or ``TFA_PEPPER``) is required. For
``/metrics`` to sum every worker's counts, start the server with
``PROMETHEUS_MULTIPROC_DIR`` naming an empty directory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tfa_engine.config import ConfigError

from .app import build_service
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("tfa.server")


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
        with self._lock:
            if self._app is None:
                service = build_service(self.settings)
                for warning in self.settings.warnings():
                    log.warning("%s", warning)
                app: Any = service.app
                self._app = app
            return self._app

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        app = self._app if self._app is not None else self._build()
        return app(environ, start_response)


application = Application()
