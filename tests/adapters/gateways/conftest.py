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
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from engine.gateways.mediariver import MediariverGateway
from engine.gateways.simulator import MediariverSimulator, serve_simulator


class Serve(Protocol):
    """The signature of the ``serve`` fixture."""

    def __call__(self, app: Any) -> str: ...


def _stop(server: Any, thread: threading.Thread) -> None:
    """Stop a waitress server running in ``thread``.

    The connections are closed in the loop's own thread (through its trigger): closing
    them from here would race with its select(). The trigger stays open until the loop has
    ended (the thunk may run before ``pull_trigger`` has written to it), and so does the
    server, whose close() closes the trigger too.
    """

    def close_sockets() -> None:
        for dispatcher in list(server._map.values()):
            if dispatcher is not server.trigger and dispatcher is not server:
                dispatcher.close()
        server._map.clear()  # an empty map ends the loop

    server.trigger.pull_trigger(close_sockets)
    thread.join(timeout=5)
    server.close()  # the listening socket and the trigger
    server.task_dispatcher.shutdown(timeout=5)
    assert not thread.is_alive(), "the waitress loop did not stop"


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve WSGI apps on 127.0.0.1; all stopped afterwards."""
    running: list[tuple[Any, Any, threading.Thread]] = []

    def start(app: Any) -> str:
        server = serve_simulator(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, name="waitress-under-test", daemon=True)
        thread.start()
        running.append((app, server, thread))
        return f"http://127.0.0.1:{server.effective_port}"

    try:
        yield start
    finally:
        for app, server, thread in reversed(running):
            if isinstance(app, MediariverSimulator):
                app.close()  # wakes requests held by a hang fault, so the threads can end
            _stop(server, thread)


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


class MakeGateway(Protocol):
    """The signature of the ``make_gateway`` fixture."""

    def __call__(self, base_url: str | None = None, **options: Any) -> MediariverGateway: ...


@pytest.fixture
def make_gateway(sim_url: str) -> Iterator[MakeGateway]:
    """Gateways with short time-outs, pointed at ``sim_url`` unless told otherwise."""
    made: list[MediariverGateway] = []

    def build(base_url: str | None = None, **options: Any) -> MediariverGateway:
        settings: dict[str, Any] = {
            "connect_timeout": 0.3,
            "read_timeout": 0.3,
            "deadline": 2.0,
            "backoff": 0.01,
            **options,
        }
        gateway = MediariverGateway(base_url or sim_url, "sim", "sim", **settings)
        made.append(gateway)
        return gateway

    try:
        yield build
    finally:
        for gateway in made:
            gateway.close()


@pytest.fixture
def free_port() -> int:
    """A loopback port with no listener (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
