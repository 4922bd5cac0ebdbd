"""Fixtures that serve WSGI apps with waitress on 127.0.0.1 for the over-HTTP gateway tests.

Fixtures:
    serve         ``serve(app) -> base_url`` starts ``app`` on a free port of 127.0.0.1 in a
                  thread; afterwards every simulator served is closed (releasing held
                  requests) and every server stopped and joined.
    sim           a ``MediariverSimulator`` (account ``sim``/``sim``), closed afterwards.
    sim_url       the base URL of ``sim`` served over HTTP.
    make_gateway  ``make_gateway(**options) -> MediariverGateway`` on ``sim_url`` with short
                  time-outs (0.3 s connect and read, 2 s deadline, 10 ms back-off); closed
                  afterwards.
    free_port     a port on 127.0.0.1 that nothing listens on.
    smsc          node-smpp's SMSC on 127.0.0.1 (tests/support/smsc_node.py), accepting
                  the system_id ``tfa`` with the password ``s3cret``; stopped afterwards.
    make_smpp     ``make_smpp(**options) -> SmppGateway`` bound to ``smsc``'s credentials
                  (2 s deadline unless told); closed afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import loopback
import pytest
from gateway_factory import MakeGateway, closing_gateways
from loopback import serve_in_thread, stop_in_thread
from smsc_node import PASSWORD, SYSTEM_ID, Smsc, running_smsc

from tfa_engine.adapters.gateway_sim import MediariverSimulator

if TYPE_CHECKING:
    from tfa_engine.gateways.smpp import SmppGateway


class Serve(Protocol):
    """The signature of the ``serve`` fixture."""

    def __call__(self, app: Any) -> str: ...


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve WSGI apps on 127.0.0.1; all stopped afterwards."""
    running: list[tuple[Any, Any, threading.Thread]] = []

    def start(app: Any) -> str:
        server, thread, url = serve_in_thread(app)
        running.append((app, server, thread))
        return url

    try:
        yield start
    finally:
        for app, server, thread in reversed(running):
            if isinstance(app, MediariverSimulator):
                app.close()  # wakes requests held by a hang fault, so the threads can end
            stop_in_thread(server, thread)


@pytest.fixture
def sim() -> Iterator[MediariverSimulator]:
    """A simulator with its default settings."""
    simulator = MediariverSimulator()
    try:
        yield simulator
    finally:
        simulator.close()


@pytest.fixture
def sim_url(sim: MediariverSimulator, serve: Serve) -> str:
    """``sim`` over HTTP."""
    return serve(sim)


@pytest.fixture
def make_gateway(sim_url: str) -> Iterator[MakeGateway]:
    """Gateways with short time-outs, pointed at ``sim_url`` unless told otherwise."""
    with closing_gateways(
        sim_url, connect_timeout=0.3, read_timeout=0.3, deadline=2.0, backoff=0.01
    ) as make:
        yield make


@pytest.fixture
def free_port() -> int:
    """A loopback port with no listener (bound, read, released)."""
    return loopback.free_port()


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    """node-smpp's SMSC, stopped afterwards."""
    with running_smsc() as running:
        yield running


class MakeSmpp(Protocol):
    """The signature of the ``make_smpp`` fixture."""

    def __call__(self, **options: Any) -> SmppGateway: ...


@pytest.fixture
def make_smpp(smsc: Smsc) -> Iterator[MakeSmpp]:
    """smpp gateways on ``smsc`` with its credentials unless told otherwise."""
    from tfa_engine.gateways.smpp import SmppGateway  # needs smpplib: the server extra

    made: list[SmppGateway] = []

    def build(**options: Any) -> SmppGateway:
        settings: dict[str, Any] = {"system_id": SYSTEM_ID, "password": PASSWORD,
                                    "port": smsc.port, "deadline": 2.0, **options}
        gateway = SmppGateway(smsc.host, **settings)
        made.append(gateway)
        return gateway

    try:
        yield build
    finally:
        for gateway in made:
            gateway.close()
