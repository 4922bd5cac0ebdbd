"""The simulator's inbox for a browser, like a mail catcher's: ``GET /``.

The page (``static/inbox.html`` with its script and style, plain files with no outside
asset) polls ``GET /messages`` and lists each SMS, newest first: recipient, sender, text,
parts and its last delivery report. Its buttons call ``POST /messages/{uuid}/report`` with
``{"delivery_status": "UNDELIV", "recipient": "+447911123456"}`` (recipient optional: all
of the message's), which makes the simulator post that report to its ``dlr_url`` now
(202 ``{"scheduled": N}``; 404 for an unknown uuid, 409 when there is no ``dlr_url``).

A Content-Security-Policy lets the page run only its own script and talk only to the
simulator; the script writes message texts as text, never as HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from tfa_engine.gateways import DELIVERY_STATUSES

from .validation import Error, error, read_json
from .wsgi import Answer

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .simulator import MediariverSimulator

_PACKAGE = __name__.rpartition(".")[0]
Handler = Callable[["WSGIEnvironment"], Answer]

REPORT_PATH = re.compile(r"/messages/(?P<uuid>[^/]+)/report")
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_ASSETS = {
    "/inbox.js": ("inbox.js", "text/javascript; charset=utf-8"),
    "/inbox.css": ("inbox.css", "text/css; charset=utf-8"),
}


@cache
def static_file(name: str) -> bytes:
    """A file of ``static/``, read once."""
    return (resources.files(_PACKAGE) / "static" / name).read_bytes()


class Inbox:
    """The routes of the browser inbox on ``sim``; ``route(path)`` finds a path's handlers."""

    def __init__(self, sim: MediariverSimulator) -> None:
        self._sim = sim
        self._routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self._page},
            **{path: {"GET": self._asset} for path in _ASSETS},
        }
        self._report_routes: dict[str, Handler] = {"POST": self._report}

    def route(self, path: str) -> dict[str, Handler] | None:
        """The handlers by method for ``path``, or None when the inbox has no such page."""
        if REPORT_PATH.fullmatch(path):
            return self._report_routes
        return self._routes.get(path)

    def _page(self, environ: WSGIEnvironment) -> Answer:
        reports = "off" if self._sim.dlr_url is None else "on"
        html = static_file("inbox.html").replace(b"{reports}", reports.encode("ascii"))
        return Answer(200, html, _page_headers(), "text/html; charset=utf-8")

    def _asset(self, environ: WSGIEnvironment) -> Answer:
        name, content_type = _ASSETS[environ.get("PATH_INFO", "")]
        return Answer(200, static_file(name), _page_headers(), content_type)

    def _report(self, environ: WSGIEnvironment) -> Answer:
        match = REPORT_PATH.fullmatch(environ.get("PATH_INFO", ""))
        assert match is not None  # routed here by this very pattern
        # JSON only: a cross-site form cannot post that without a CORS preflight, which
        # the simulator never grants.
        media_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return Answer(415, {"errors": [error("", "should be sent as application/json")]})
        payload, errors = read_json(environ)
        if not errors:
            errors = _report_errors(payload)
        if errors:
            return Answer(400, {"errors": errors})
        fields = cast(dict[str, Any], payload)
        if self._sim.dlr_url is None:
            reason = "no dlr_url: start the simulator with --dlr-url to send delivery reports"
            return Answer(409, {"errors": [error("", reason)]})
        scheduled = self._sim.report(
            match["uuid"], fields["delivery_status"], fields.get("recipient")
        )
        if not scheduled:
            return Answer(404, {"errors": [error("", "no such message")]})
        return Answer(202, {"scheduled": scheduled})


def _report_errors(payload: object) -> list[Error]:
    """Why ``payload`` is not ``{"delivery_status": STATUS, "recipient"?: string}``."""
    if not isinstance(payload, dict):
        return [error("", "should be object")]
    if "delivery_status" not in payload:
        return [error("", "should have required property 'delivery_status'")]
    errors = []
    if payload["delivery_status"] not in DELIVERY_STATUSES:
        allowed = ", ".join(DELIVERY_STATUSES)
        errors.append(error("/delivery_status", f"should be one of {allowed}"))
    if "recipient" in payload and not isinstance(payload["recipient"], str):
        errors.append(error("/recipient", "should be string"))
    return errors


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
