"""The service as every server runs it: an engine and its API app, built from settings.

``tfa serve``, each of its workers and the WSGI ``application`` for gunicorn build what
they serve with :func:`build_service` alone, so they cannot drift apart: the same log
format, metrics, access log, trusted proxies, body limit and background work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tfa_engine import Engine

from .http_kind import http_reports
from .logs import configure_logging
from .service import build_engine
from .settings import Settings

if TYPE_CHECKING:
    from ..metrics import Metrics


@dataclass(frozen=True)
class Service:
    """What one server process serves: ``app`` (a WSGI app) on ``engine``, counting into
    ``metrics`` (None with ``TFA_METRICS=off``)."""

    engine: Engine
    app: Any
    metrics: Metrics | None


def build_service(settings: Settings, *, declare: bool = True) -> Service:
    """The engine and the app ``settings`` describe, the engine's background work started.

    Log records go to stderr in ``settings.log_format``. With metrics on, the engine's
    gateway counts its sends into the metrics the app serves at ``GET /metrics``; the app
    writes the access log unless it is off; the delivery reports of each ``http`` gateway
    with report settings are taken at ``/1/delivery/{name}``. ``declare`` installs the
    settings file's tokens (a worker whose supervisor did so already leaves it). Close the
    engine when done serving.
    """
    from ..falcon import create_app

    configure_logging(settings.log_format)
    metrics: Metrics | None = None
    if settings.metrics:
        from ..metrics import Metrics

        metrics = Metrics()
    engine = build_engine(settings, declare=declare, metrics=metrics)
    try:
        app = create_app(
            engine,
            trusted_proxies=settings.trusted_proxies,
            forwarded_header=settings.forwarded_header,
            max_body=settings.max_body,
            metrics=metrics if metrics is not None else False,
            access_log=settings.access_log,
            gateway_reports={spec.name: reports for spec in settings.gateways
                             if spec.kind == "http"
                             and (reports := http_reports(spec.name, spec.options))},
        )
        engine.start()  # callbacks left pending by an earlier run go out, purges run
    except BaseException:
        engine.close()
        raise
    return Service(engine, app, metrics)
