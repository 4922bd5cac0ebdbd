"""The Falcon app of the 2FA API: its routes and the checks every request passes.

:func:`create_app` is the one place the routes are declared; the standalone server and
the WSGI middleware both serve the app it returns, so the faces cannot drift apart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import falcon

from tfa_engine import Engine, StoreUnavailable, catalogue
from tfa_engine.gateways import HttpReports
from tfa_engine.store import READY_TTL

from ..client_ip import X_FORWARDED_FOR, TrustedProxies, client_ip
from .docs import DocsFile, DocsPage
from .errors import handle_http_error, handle_unexpected
from .observe import Observer
from .outages import OutageLog, RecoveryWatch, StoreUnavailableHandler
from .resources import (
    DeliveryReports,
    GatewayReports,
    Health,
    MetricsPage,
    OpenAPIDocument,
    Readiness,
    RequestCode,
    ValidateCode,
)
from .wire import render

if TYPE_CHECKING:
    from ..metrics import Metrics

DEFAULT_MAX_BODY = 16 * 1024  # bytes; larger bodies are -73
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")


class ClientAddress:
    """Works out a request's client IP from ``REMOTE_ADDR`` and one forwarding header."""

    def __init__(self, trusted: TrustedProxies, header: str) -> None:
        self._trusted = trusted
        self._header = header

    def __call__(self, req: falcon.Request) -> str | None:
        # Falcon's remote_addr invents 127.0.0.1 when REMOTE_ADDR is missing; an
        # allowlist must see "unknown" instead.
        peer = req.env.get("REMOTE_ADDR")
        forwarded = req.get_header(self._header) if self._trusted else None
        return client_ip(peer, forwarded, trusted=self._trusted, header=self._header)


class RequestGuard:
    """Falcon middleware for what is decided before any resource runs.

    * A body announced larger than ``max_body`` is refused (-73) before it is read, on
      every path.
    * A method a resource does not serve is -72 with ``Allow``. Falcon would answer
      ``OPTIONS`` itself (200, empty body) and unknown methods with a bare 400; resources
      list their ``methods`` so every such request gets the same envelope.
    """

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse an announced oversized body."""
        length = req.content_length  # a malformed Content-Length raises a 400 (-64)
        if length is not None and length > self._max_body:
            render(resp, catalogue.TOO_LARGE)
            resp.complete = True

    def process_resource(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: object,
        params: dict[str, Any],
    ) -> None:
        """Refuse a method the routed resource does not serve."""
        methods: tuple[str, ...] | None = getattr(resource, "methods", None)
        if methods is not None and req.method not in methods:
            render(resp, catalogue.METHOD_NOT_ALLOWED, {"Allow": ", ".join(methods)})
            resp.complete = True


def create_app(
    engine: Engine,
    *,
    trusted_proxies: Iterable[str] | TrustedProxies = (),
    forwarded_header: str = X_FORWARDED_FOR,
    max_body: int = DEFAULT_MAX_BODY,
    metrics: bool | Metrics = False,
    access_log: bool = True,
    gateway_reports: Mapping[str, HttpReports] | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app serving the Fortytwo-compatible API on ``engine``.

    Routes: ``POST /1/2fa`` (request a code), ``POST /1/2fa/{client_ref}/{code}``
    (validate; also without the code, which is -56), ``POST /1/dlr/{secret}`` (the
    gateway's delivery reports), ``GET /health`` (liveness), ``GET /health/ready``
    (readiness: the store takes writes), ``GET /openapi.json`` and ``GET /docs`` (the
    document in Swagger UI, its files under ``/docs/``); these need no token. A store
    that cannot serve (:class:`~tfa_engine.StoreUnavailable`) is -78, HTTP 503.

    ``trusted_proxies``: IPs/CIDRs of reverse proxies whose ``forwarded_header`` is
    believed (see :mod:`tfa_engine.adapters.client_ip`); empty means the socket peer is the client.
    ``forwarded_header``: the one header read behind such a proxy, ``x-forwarded-for``
    or ``forwarded`` (RFC 7239). ``max_body``: the largest body accepted, in bytes.
    ``metrics``: serve Prometheus metrics at ``GET /metrics`` (counts of this app's
    requests, SMS and validations; the prometheus-client package). ``True`` counts into
    metrics of the app's own, the SMS from its request-code answers
    (:class:`~tfa_engine.adapters.metrics.AnsweredSends`); a
    :class:`~tfa_engine.adapters.metrics.Metrics` counts into those, its SMS counted by the
    :class:`~tfa_engine.adapters.metrics.CountedGateway` the engine was built with (as
    :func:`~tfa_engine.adapters.server.app.build_service` does). The engine is never
    changed. ``access_log``: one
    record per request on the ``tfa.access`` logger (never the path: it holds the code).
    ``gateway_reports``: gateway name -> how its provider's delivery reports read, served
    at ``POST /1/delivery/{gateway}`` behind the delivery-report secret.
    Raises ValueError for a bad proxy entry, header name or size.
    """
    trusted = (
        trusted_proxies
        if isinstance(trusted_proxies, TrustedProxies)
        else TrustedProxies(trusted_proxies)
    )
    if not _HEADER_NAME.fullmatch(forwarded_header):
        raise ValueError(f"forwarded_header {forwarded_header!r} is not a header name")
    if max_body < 0:
        raise ValueError("max_body must not be negative")
    client_address = ClientAddress(trusted, forwarded_header)

    counters: Metrics | None = None
    sends: list[Any] = []
    if metrics is True:
        from ..metrics import AnsweredSends, Metrics

        counters = Metrics()
        sends.append(AnsweredSends(counters, engine.gateway.label))
    elif metrics is not False:
        counters = metrics
    observer = Observer(client_address, counters, access_log)
    outages = OutageLog(logging.getLogger("tfa.http"))
    # A code stored, or a readiness verdict computed after the outage began (verdicts are
    # reused for READY_TTL): the store takes writes again.
    served = {RequestCode: 0.0, Readiness: READY_TTL}
    middleware: list[Any] = [
        observer, RecoveryWatch(outages, served), RequestGuard(max_body), *sends
    ]
    app = falcon.App(middleware=middleware)
    # "/1/2fa/" is the request route, "/1/2fa/{ref}/" the validate route without a code.
    app.req_options.strip_url_path_trailing_slash = True
    validate = ValidateCode(engine, client_address)
    app.add_route("/1/2fa", RequestCode(engine, client_address, max_body))
    app.add_route("/1/2fa/{client_ref}", validate)
    app.add_route("/1/2fa/{client_ref}/{code}", validate)
    app.add_route("/1/dlr/{secret}", DeliveryReports(engine, max_body))
    app.add_route("/1/delivery/{gateway}",
                  GatewayReports(engine, dict(gateway_reports or {}), max_body))
    app.add_route("/health", Health())
    app.add_route("/health/ready", Readiness(engine))
    app.add_route("/openapi.json", OpenAPIDocument())
    app.add_route("/docs", DocsPage())
    app.add_route("/docs/{name}", DocsFile())
    if counters is not None:
        app.add_route("/metrics", MetricsPage(engine, counters))
        engine.deliveries.listen(counters.delivered)  # reports by gateway and status
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(StoreUnavailable, StoreUnavailableHandler(outages))
    return app
