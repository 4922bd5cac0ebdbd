"""Everything that goes wrong outside the engine still answers in the API's envelope.

Falcon's own errors (unknown route, bad header, ...) and unexpected exceptions are
turned into catalogue statuses here, so a client never sees Falcon's default body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import falcon

from tfa_engine import Status, catalogue

from .wire import render

log = logging.getLogger("tfa.http")

# Falcon HTTP errors by status; other 4xx mean the request itself was unusable (-64),
# other 5xx are ours (-65, HTTP 500).
_BY_HTTP_STATUS: dict[int, Status] = {
    404: catalogue.NOT_FOUND,
    405: catalogue.METHOD_NOT_ALLOWED,
    413: catalogue.TOO_LARGE,
    415: catalogue.UNSUPPORTED_MEDIA,
    429: catalogue.RATE_LIMITED,
}
# Headers of a Falcon error that tell the client what to do next; the rest is dropped.
_KEPT_HEADERS = frozenset({"allow", "retry-after"})


def status_for(error: falcon.HTTPError) -> Status:
    """The catalogue status that stands for a Falcon HTTP error."""
    code = error.status_code
    if code in _BY_HTTP_STATUS:
        return _BY_HTTP_STATUS[code]
    return catalogue.INTERNAL_ERROR if code >= 500 else catalogue.MALFORMED


def handle_http_error(
    req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError, params: dict[str, Any]
) -> None:
    """Render a Falcon :class:`falcon.HTTPError` as its catalogue status."""
    raw = error.headers or {}
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    headers = {name: value for name, value in pairs if name.lower() in _KEPT_HEADERS}
    render(resp, status_for(error), headers)


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Log an unexpected failure and answer -65 with HTTP 500.

    The log names the route template, not the path (the path holds the code), and never
    the headers or the body (they hold the token and the phone number).
    """
    log.error(
        "unexpected failure in %s %s",
        req.method,
        req.uri_template or "(no route)",
        exc_info=error,
    )
    render(resp, catalogue.INTERNAL_ERROR)
