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


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into KeyboardInterrupt (once), which stops waitress's loop."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:  # a second signal must not break the shutdown under way
            stopping = True
            log.info("received %s: shutting down", signal.Signals(signum).name)
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
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
    runs also ends cleanly."""
    server: Any = None
    sockets: dict[int, Any] = {}
    with stop_on_signals():
        try:
            server = create(sockets)
            started(server)
            server.run()  # waitress stops its loop and threads on KeyboardInterrupt
        except KeyboardInterrupt:  # a signal before the loop started
            pass
        finally:
            close(server, sockets)
            cleanup()
    log.info("stopped")
