"""The Falcon resources: HTTP in, one engine call, HTTP out.

No rule of the API lives here. Authentication, the media type check, JSON decoding and
every other decision are the engine's (the documented check order is the engine's);
a resource only picks the token, the client address and the raw body out of the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import falcon

from tfa_engine import Engine, catalogue, token_from_header
from tfa_engine.gateways import HttpReports
from tfa_engine.store import ReadinessCache

from .docs import mount_path
from .wire import render, write_json

ClientAddress = Callable[[falcon.Request], "str | None"]
_Read = TypeVar("_Read")


def read_body(req: falcon.Request, limit: int) -> bytes | None:
    """The raw request body, or None when it is larger than ``limit`` bytes.

    With a Content-Length, exactly that many bytes are read (never more than ``limit``).
    Without one (a chunked upload), at most ``limit + 1`` bytes are read, and only when
    the server marks the input as terminated (``wsgi.input_terminated``): PEP 3333 does
    not let an application read past a missing Content-Length otherwise, and doing so
    on a plain socket would block, so such a body counts as empty.
    """
    length = req.content_length
    if length is not None:
        return None if length > limit else req.bounded_stream.read()
    if not req.env.get("wsgi.input_terminated"):
        return b""
    chunks: list[bytes] = []
    received = 0
    while received <= limit:
        chunk = req.stream.read(limit + 1 - received)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return None if received > limit else b"".join(chunks)


def _read_reports(req: falcon.Request, resp: falcon.Response, allowed: bool, max_body: int,
                 read: Callable[[bytes], _Read]) -> _Read | None:
    """What ``read`` makes of a delivery-report body, or None once the error is rendered:
    -71 404 when not ``allowed`` (the endpoint cannot be told from an unknown path), too
    large over ``max_body``, malformed when ``read`` raises ValueError."""
    if not allowed:
        render(resp, catalogue.NOT_FOUND)
        return None
    body = read_body(req, max_body)
    if body is None:
        render(resp, catalogue.TOO_LARGE)
        return None
    try:
        return read(body)
    except ValueError:
        render(resp, catalogue.MALFORMED)
        return None


def _answer_accepted(resp: falcon.Response, count: int) -> None:
    """200 with how many reports were taken, never cached."""
    write_json(resp, 200, {"accepted": count})
    resp.cache_control = ["no-store"]


class RequestCode:
    """``POST /1/2fa``: send a new code."""

    methods = ("POST",)

    def __init__(self, engine: Engine, client_address: ClientAddress, max_body: int) -> None:
        self._engine = engine
        self._client_address = client_address
        self._max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Hand the raw body to the engine, which decodes and checks it."""
        body = read_body(req, self._max_body)
        if body is None:
            render(resp, catalogue.TOO_LARGE)
            return
        outcome = self._engine.request_code(
            token_from_header(req.get_header("Authorization")),
            self._client_address(req),
            body,
            content_type=req.content_type or "",
        )
        render(resp, outcome)


class ValidateCode:
    """``POST /1/2fa/{client_ref}/{code}``: check a code. Any body is ignored, never read.

    Also routed without the code (``/1/2fa/{client_ref}`` and ``.../``), so the engine
    answers -56 after it has checked the token, as it does for any other request.
    Path segments arrive percent-decoded; a client_ref holding ``/`` cannot be validated
    over HTTP, since WSGI servers decode ``%2F`` before any routing can see it.
    """

    methods = ("POST",)

    def __init__(self, engine: Engine, client_address: ClientAddress) -> None:
        self._engine = engine
        self._client_address = client_address

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, client_ref: str, code: str = ""
    ) -> None:
        """Pass the path's client_ref and code to the engine."""
        outcome = self._engine.validate_code(
            token_from_header(req.get_header("Authorization")),
            self._client_address(req),
            client_ref,
            code,
        )
        render(resp, outcome)


class DeliveryReports:
    """``POST /1/dlr/{secret}``: the gateway's delivery reports (one object or an array).

    A wrong secret, or none configured, is -71 404 like any unknown path, so the endpoint
    cannot be told apart from nothing. Unknown message ids and repeated reports are
    accepted and ignored (gateways resend until they get a 2xx).
    """

    methods = ("POST",)

    def __init__(self, engine: Engine, max_body: int) -> None:
        self._engine = engine
        self._max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response, secret: str) -> None:
        """Record the reports; 200 with how many changed a message."""
        applied = _read_reports(req, resp, self._engine.dlr_secret_matches(secret),
                               self._max_body, self._engine.record_delivery_reports)
        if applied is not None:
            _answer_accepted(resp, applied)


class GatewayReports:
    """``POST /1/delivery/{gateway}``: a provider's delivery reports (its status webhook),
    as a form or JSON, read by the ``HttpReports`` of the gateway of that name.

    The secret is ``TFA_DLR_SECRET``, given as the ``secret`` query parameter (what a
    provider's callback URL can carry) or the ``X-TFA-DLR-Secret`` header. A wrong secret,
    none configured, or a gateway without reports is -71 404, like an unknown path.
    """

    methods = ("POST",)

    def __init__(self, engine: Engine, readers: Mapping[str, HttpReports],
                 max_body: int) -> None:
        self._engine = engine
        self._readers = readers
        self._max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response, gateway: str) -> None:
        """Hand each final report to the engine; 200 with how many there were."""
        secret = req.get_param("secret") or req.get_header("X-TFA-DLR-Secret") or ""
        allowed = self._engine.dlr_secret_matches(secret) and gateway in self._readers
        reports = _read_reports(
            req, resp, allowed, self._max_body,
            lambda body: self._readers[gateway].read(body, req.content_type or "",
                                                     self._engine.clock()),
        )
        if reports is None:
            return
        for report in reports:
            self._engine.record_gateway_report(report)
        _answer_accepted(resp, len(reports))


class OpenAPIDocument:
    """``GET /openapi.json``: the API's OpenAPI 3.1 description. Under a mount path
    (``SCRIPT_NAME``, e.g. the middleware's prefix) its ``servers`` name that path."""

    methods = ("GET", "HEAD")

    def __init__(self) -> None:
        # Imported here, not with the package: `python -m tfa_engine.adapters.falcon.openapi`
        # (which writes docs/openapi.json) then runs a module nothing imported before it.
        from .openapi import render_openapi, render_openapi_at

        self._render_at = render_openapi_at
        self._body = render_openapi().encode("utf-8")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the document."""
        resp.content_type = falcon.MEDIA_JSON
        mounted = mount_path(req)
        resp.data = self._render_at(mounted).encode("utf-8") if mounted else self._body

    on_head = on_get


class Health:
    """``GET /health``: 200 ``{"status": "ok"}`` while the process serves requests.

    Unauthenticated, for load balancers and orchestrators; it touches neither the store
    nor the gateway, so it says the process is up, not that SMS can be sent (liveness;
    ``/health/ready`` asks the store).
    """

    methods = ("GET", "HEAD")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer that the process is alive."""
        write_json(resp, 200, {"status": "ok"})
        resp.cache_control = ["no-store"]

    on_head = on_get


class Readiness:
    """``GET /health/ready``: 200 ``{"status": "ready"}`` when a request-code would be
    stored now.

    Unauthenticated, for load balancers, and so cheap whatever the call rate: the store is
    asked (without writing) at most once a second per process, every call in between
    shares that verdict (:class:`~tfa_engine.store.ReadinessCache`). When the store
    cannot serve, the app answers -78 (HTTP 503) with ``Retry-After``, as it does for
    every other request meanwhile.
    """

    methods = ("GET", "HEAD")

    def __init__(self, engine: Engine) -> None:
        self._verdict = ReadinessCache(engine.ping, engine.clock)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer the verdict of the last second."""
        self._verdict.check()
        write_json(resp, 200, {"status": "ready"})
        resp.cache_control = ["no-store"]

    on_head = on_get


class MetricsPage:
    """``GET /metrics``: Prometheus metrics in the text exposition format (no token)."""

    methods = ("GET", "HEAD")

    def __init__(self, engine: Engine, metrics: Any) -> None:
        self._engine = engine
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Every count, summed over the server's processes, and the store's gauges."""
        from ..metrics import CONTENT_TYPE

        resp.content_type = CONTENT_TYPE
        resp.data = self._metrics.exposition(self._engine)
        resp.cache_control = ["no-store"]

    on_head = on_get
