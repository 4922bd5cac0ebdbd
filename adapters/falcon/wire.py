"""The wire format: every answer is the Fortytwo JSON envelope with its own api_job_id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import falcon

from tfa_engine import Outcome, Status


def write_json(resp: falcon.Response, status: int, body: Any) -> None:
    """Write ``body`` as JSON with an HTTP ``status``."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render(
    resp: falcon.Response, outcome: Outcome | Status, headers: Mapping[str, str] | None = None
) -> None:
    """Write an engine outcome (or a bare status) as the API's response.

    ``headers`` are extra response headers, e.g. ``Allow`` for a 405.
    """
    if isinstance(outcome, Status):
        outcome = Outcome(outcome)
    # The outcome's own job id: a sent code's callbacks repeat the one answered here.
    write_json(resp, outcome.status.http, outcome.envelope())
    resp.context.status_code = outcome.status.code  # for the access log and the metrics
    resp.context.status_name = outcome.status.name
    # Answers carry one-time state (message ids, verdicts): no cache may keep them.
    resp.cache_control = ["no-store"]
    if outcome.retry_after is not None:
        resp.set_header("Retry-After", str(outcome.retry_after))
    if headers:
        resp.set_headers(headers)
