"""Servers on 127.0.0.1 for tests: a free port, and waitress run in a thread and stopped.

Importable from every test directory. waitress is imported when a server is started, so
environments without it can still import this module.
"""

from __future__ import annotations

import threading
from typing import Any

from dev.ports import free_port

__all__ = ["free_port", "serve_in_thread", "stop_in_thread"]  # free_port: the one helper

# How often a stdlib HTTP server run by serve_forever checks for shutdown (its default of
# 0.5 s would be the cost of every stop).
POLL_INTERVAL = 0.05


def serve_in_thread(
    app: Any, *, port: int = 0, threads: int = 4, name: str = "waitress-under-test"
) -> tuple[Any, threading.Thread, str]:
    """Serve the WSGI ``app`` (the mediariver simulator, or an app wrapping it) with
    waitress on 127.0.0.1 in a thread: ``(server, thread, base URL)``; stop it with
    :func:`stop_in_thread`."""
    from tfa_engine.adapters.gateway_sim import serve_simulator

    server = serve_simulator(app, host="127.0.0.1", port=port, threads=threads)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.effective_port}"


def stop_in_thread(server: Any, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Stop a waitress server running in ``thread``.

    The connections are closed in the loop's own thread (through its trigger): closing
    them from here would race with its select(). The trigger stays open until the loop has
    ended (the thunk may run before ``pull_trigger`` has written to it), and so does the
    server, whose close() closes the trigger too. An empty socket map ends the loop.
    """

    def close_sockets() -> None:
        for dispatcher in list(server._map.values()):
            if dispatcher is not server.trigger and dispatcher is not server:
                dispatcher.close()
        server._map.clear()

    server.trigger.pull_trigger(close_sockets)
    thread.join(timeout=timeout)
    server.close()  # the listening socket and the trigger
    server.task_dispatcher.shutdown(timeout=timeout)
    assert not thread.is_alive(), "the waitress loop did not stop"
