"""Serving WSGI apps with waitress until a signal: the API (``tfa serve``) and the
gateway simulator (``tfa gateway-sim``) alike."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger("tfa.server")


def url(host: str, port: int) -> str:
    """The base URL of a listening address."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Stopper:
    """What SIGTERM and SIGINT do: ask for a stop, once. While ``armed`` (the server's
    event loop runs) the request is a KeyboardInterrupt, which ends waitress's loop;
    before that it is only recorded, so a signal that arrives while the engine is built
    or announced never breaks off code holding a lock."""

    def __init__(self) -> None:
        self.requested = False
        self.armed = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # a second signal must not break the shutdown under way
            return
        self.requested = True
        log.info("received %s: shutting down", signal.Signals(signum).name)
        if self.armed:
            raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[Stopper]:
    """Handle SIGTERM and SIGINT with a :class:`Stopper` while the block runs."""
    stopper = Stopper()
    previous = {sig: signal.signal(sig, stopper) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopper
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def listening(server: Any) -> list[str]:
    """The URLs a waitress server listens on: with several sockets (a host name with IPv4
    and IPv6 addresses) waitress lists them all."""
    addresses = getattr(server, "effective_listen", None) or [
        (server.effective_host, server.effective_port)
    ]
    return [url(str(host), int(port)) for host, port in addresses]


def close(server: Any, sockets: dict[int, Any]) -> None:
    """Stop a waitress server's threads (if it was made) and close its sockets."""
    from waitress import wasyncore

    if server is not None:
        server.task_dispatcher.shutdown()
    wasyncore.close_all(sockets)


class ListenError(Exception):
    """The server could not listen where it was told to."""


def create_server(
    app: Any, socket_map: dict[int, Any], host: str, port: int, **options: Any
) -> Any:
    """A waitress server for ``app`` on ``host:port`` (or on the already listening
    ``sockets=[...]`` among ``options``), its sockets in ``socket_map``; raises
    :class:`ListenError` when it cannot listen there."""
    import waitress

    where = {} if "sockets" in options else {"host": host, "port": port}
    try:
        return waitress.create_server(app, map=socket_map, **where, **options)
    except (OSError, ValueError) as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc}") from None


def run_until_signal(
    create: Callable[[dict[int, Any]], Any],
    started: Callable[[Any], None],
    cleanup: Callable[[], None] = lambda: None,
) -> None:
    """Make a waitress server with ``create(socket_map)``, tell ``started(server)``, and
    serve until SIGTERM or SIGINT; then stop its threads, close its sockets and call
    ``cleanup``. Signals are caught from the start, so one that arrives while ``create``
    or ``started`` runs also ends cleanly, once they have returned."""
    server: Any = None
    sockets: dict[int, Any] = {}
    with stop_on_signals() as stopper:
        try:
            server = create(sockets)
            started(server)
            stopper.armed = True  # from here a signal interrupts; before, it was recorded
            if not stopper.requested:
                server.run()  # waitress stops its loop and threads on KeyboardInterrupt
        except KeyboardInterrupt:  # a signal just before the loop started
            pass
        finally:
            stopper.armed = False
            close(server, sockets)
            cleanup()
    log.info("stopped")
