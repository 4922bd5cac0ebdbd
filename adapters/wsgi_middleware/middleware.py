"""Mount the 2FA API under a path prefix inside any WSGI application.

The requests under the prefix are served by the very app that
:func:`tfa_engine.adapters.falcon.create_app` builds (one set of routes for every face);
everything else reaches the wrapped application exactly as it arrived.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from tfa_engine import Engine

from ..client_ip import X_FORWARDED_FOR, TrustedProxies
from ..falcon import DEFAULT_MAX_BODY, create_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def wsgi_prefix(prefix: str) -> str:
    """Check a mount prefix and return it as it appears in ``PATH_INFO``.

    It must start with ``/`` and must not end with one (so ``/`` itself and ``""`` are
    refused: the API would swallow the whole host application). PEP 3333 paths are
    bytes decoded as latin-1, so a non-ASCII prefix is converted the same way.
    """
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must start with '/' and not end with '/'")
    if "//" in prefix or any(c in prefix for c in "?#") or not prefix.isprintable():
        raise ValueError(f"prefix {prefix!r} is not a plain URL path")
    return prefix.encode("utf-8").decode("latin-1")


class TwoFactorMiddleware:
    """Serve the 2FA API under ``prefix``; pass every other request to ``application``.

    Usage, e.g. in Flask (``app.wsgi_app = TwoFactorMiddleware(app.wsgi_app, engine)``)
    or Django (wrap the object ``get_wsgi_application()`` returns). With the default
    prefix a client's base URL is ``https://host/tfa`` and it requests ``/tfa/1/2fa``.
    """

    def __init__(
        self,
        application: WSGIApplication,
        engine: Engine,
        *,
        # Path the API is mounted at: requests to exactly this path or below it
        # ("/tfa", "/tfa/1/2fa") are the API's; "/tfax" or "/other" are not.
        prefix: str = "/tfa",
        # Reverse proxies (IPs or CIDR networks) whose forwarding header is believed.
        # Empty: REMOTE_ADDR is the client, whatever headers say.
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        # The one header read behind a trusted proxy: "x-forwarded-for" or "forwarded".
        forwarded_header: str = X_FORWARDED_FOR,
        # Largest request body accepted by the API, in bytes (larger: -73, HTTP 413).
        max_body: int = DEFAULT_MAX_BODY,
        # Serve Prometheus metrics at <prefix>/metrics (the API's own counts).
        metrics: bool = False,
    ) -> None:
        self.application = application
        self.prefix = wsgi_prefix(prefix)
        # The Falcon app answering under the prefix (public, so it can be wrapped).
        # Falcon annotates start_response more narrowly than PEP 3333's StartResponse
        # (its write() returns None); it is a plain WSGI application all the same.
        self.api = cast(
            "WSGIApplication",
            create_app(
                engine,
                trusted_proxies=trusted_proxies,
                forwarded_header=forwarded_header,
                max_body=max_body,
                metrics=metrics,
            ),
        )

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return self.application(environ, start_response)
        # Like werkzeug's DispatcherMiddleware, but on a copy: the host's environ is
        # left as it was, in case its own middleware looks at it afterwards.
        api_environ = dict(environ)
        api_environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
        api_environ["PATH_INFO"] = path[len(self.prefix) :]
        return self.api(api_environ, start_response)
