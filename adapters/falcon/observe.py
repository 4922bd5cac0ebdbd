"""What every request leaves behind: an access-log line and the request metrics.

The access log (logger ``tfa.access``, one record per request) names the route template,
never the path: the validate path holds the code. With ``TFA_LOG_FORMAT=json`` its fields
are a JSON object (``method``, ``route``, ``http_status``, ``status_code``,
``duration_ms``, ``client_ip``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import falcon

log = logging.getLogger("tfa.access")

# The metrics' ``endpoint`` label of each route template (anything else: "other").
ENDPOINTS = {
    "/1/2fa": "request_code",
    "/1/2fa/{client_ref}": "validate_code",
    "/1/2fa/{client_ref}/{code}": "validate_code",
    "/1/dlr/{secret}": "delivery_reports",
    "/1/delivery/{gateway}": "delivery_reports",
    "/health": "health",
    "/health/ready": "ready",
    "/openapi.json": "openapi",
    "/metrics": "metrics",
    "/docs": "docs",
}


class Observer:
    """Falcon middleware: times each request, then logs it and counts it."""

    def __init__(self, client_address: Callable[[falcon.Request], str | None],
                 metrics: Any | None, access_log: bool) -> None:
        self._client_address = client_address
        self._metrics = metrics
        self._access_log = access_log

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Note when the request came."""
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        """Log and count the answer."""
        seconds = time.perf_counter() - getattr(req.context, "started", time.perf_counter())
        route = req.uri_template or "(no route)"
        http = resp.status if isinstance(resp.status, int) else int(str(resp.status)[:3])
        status_code = getattr(resp.context, "status_code", None)
        if self._metrics is not None:
            endpoint = ENDPOINTS.get(route, "other")
            code = "" if status_code is None else str(status_code)
            self._metrics.requests.labels(endpoint, code, str(http)).inc()
            self._metrics.request_duration.labels(endpoint).observe(seconds)
            outcome = getattr(resp.context, "status_name", None)
            if endpoint == "validate_code" and outcome is not None:
                self._metrics.validations.labels(outcome.lower()).inc()
        if self._access_log and log.isEnabledFor(logging.INFO):
            fields = {"method": req.method, "route": route, "http_status": http,
                      "status_code": status_code, "duration_ms": round(seconds * 1000, 2),
                      "client_ip": self._client_address(req)}
            log.info("%s %s %s %s %.2fms client_ip=%s", req.method, route, http,
                     "-" if status_code is None else status_code, seconds * 1000,
                     fields["client_ip"], extra={"access": fields})
