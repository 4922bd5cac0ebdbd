"""Prometheus metrics of the service (prometheus-client), served at ``GET /metrics``.

Counters and histograms are kept per process; with several worker processes they are
kept in files under ``$PROMETHEUS_MULTIPROC_DIR`` (``tfa serve --workers`` sets it up, the
operator does for gunicorn) and every worker answers ``/metrics`` with the sums of all.
What the database knows (callbacks waiting, ranges the fraud guard holds) is read from it
when scraped, the same from every process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tfa_engine import Engine, catalogue
from tfa_engine.gateways import Accepted, Gateway, GatewayError, SmsMessage, WrappingGateway

log = logging.getLogger("tfa.metrics")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tfa_requests", "Requests answered, by endpoint, status_code and HTTP status.",
            ["endpoint", "status_code", "http_status"], registry=self.registry,
        )
        self.request_duration = Histogram(
            "tfa_request_duration_seconds", "Time to answer a request, by endpoint.",
            ["endpoint"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )
        self.validations = Counter(
            "tfa_validations", "Validations by outcome (valid, declined, invalid, ...).",
            ["outcome"], registry=self.registry,
        )
        self.sms_sent = Counter(
            "tfa_sms_sent", "SMS the gateway accepted.", ["gateway"], registry=self.registry
        )
        self.sms_failed = Counter(
            "tfa_sms_failed", "SMS the gateway did not accept.", ["gateway"],
            registry=self.registry,
        )
        self.gateway_duration = Histogram(
            "tfa_gateway_send_duration_seconds", "Time one send took, by gateway.",
            ["gateway"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )
        self.delivery_reports = Counter(
            "tfa_sms_delivery_reports",
            "Final delivery reports stored, by the gateway that took the SMS and the status "
            "(DELIVRD, UNDELIV, REJECTD, EXPIRED, UNKNOWN).",
            ["gateway", "status"], registry=self.registry,
        )

    def delivered(self, gateway: str, status: str) -> None:
        """Count one delivery report stored (an engine's delivery desk calls this)."""
        self.delivery_reports.labels(gateway, status).inc()

    def exposition(self, engine: Engine) -> bytes:
        """The text format a scrape gets: every process's counts, and the store's gauges."""
        directory = os.environ.get(MULTIPROCESS_VARIABLE)
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        text = generate_latest(registry)
        store_registry = CollectorRegistry()
        store_registry.register(StoreGauges(engine))
        return text + generate_latest(store_registry)


class StoreGauges(Collector):
    """What the database knows, read at scrape time (nothing when it cannot answer)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending = self.engine.store.pending_callbacks()
            holds = len(self.engine.held_ranges())
        except Exception:  # a scrape must not fail because the store does
            log.warning("metrics: the store did not answer; its gauges are left out")
            return
        yield GaugeMetricFamily("tfa_callbacks_pending", "Callbacks waiting to be delivered.",
                                value=pending)
        yield GaugeMetricFamily("tfa_fraud_holds", "Number ranges the fraud guard holds now.",
                                value=holds)


class CountedGateway(WrappingGateway):
    """Counts each send of ``gateway`` (accepted or not) and times it: the gateway of an
    engine built with its metrics (:func:`~tfa_engine.adapters.server.app.build_service`),
    so that no app has to change the engine it serves."""

    def __init__(self, gateway: Gateway, metrics: Metrics) -> None:
        super().__init__(gateway)
        self.metrics = metrics
        self.name = gateway.label

    def send(self, message: SmsMessage) -> Accepted | None:
        started = time.perf_counter()
        try:
            accepted = self.gateway.send(message)
        except GatewayError:
            self.metrics.sms_failed.labels(self.name).inc()
            raise
        finally:
            self.metrics.gateway_duration.labels(self.name).observe(
                time.perf_counter() - started
            )
        self.metrics.sms_sent.labels(self.name).inc()
        return accepted


class AnsweredSends:
    """Falcon middleware counting SMS from the answers to ``POST /1/2fa``, for an app whose
    engine sends through a gateway no :class:`CountedGateway` wraps (an engine the embedder
    built, served by the middleware with ``metrics=True``). A 201 is one SMS the gateway
    accepted and a -65 with HTTP 400 one it refused: no other answer means either. The
    engine is left as it is, so the durations of sends are not seen this way."""

    def __init__(self, metrics: Metrics, gateway: str) -> None:
        self.metrics = metrics
        self.gateway = gateway

    def process_response(self, req: Any, resp: Any, resource: object,
                         req_succeeded: bool) -> None:
        """Count the SMS a request-code answer stands for."""
        if req.method != "POST" or req.uri_template != "/1/2fa":
            return
        http = resp.status if isinstance(resp.status, int) else int(str(resp.status)[:3])
        answer = (http, getattr(resp.context, "status_code", None))
        if answer == (catalogue.SUCCESS.http, catalogue.SUCCESS.code):
            self.metrics.sms_sent.labels(self.gateway).inc()
        elif answer == (catalogue.SYSTEM_ERROR.http, catalogue.SYSTEM_ERROR.code):
            self.metrics.sms_failed.labels(self.gateway).inc()
