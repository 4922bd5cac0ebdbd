"""``tfa serve`` (the API) and ``tfa gateway-sim`` (the mediariver simulator), on waitress."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import threading
from collections.abc import Callable
from typing import Any

from tfa_engine import Engine
from tfa_engine.config import ConfigError
from tfa_engine.gateways import GatewayError
from tfa_engine.store import StoreError

from ..server import Settings, build_engine, load_settings
from ..server.logs import configure_logging
from ..server.serving import ListenError, create_server, listening, run_until_signal, url
from .common import CREATE_HINT, error

log = logging.getLogger("tfa.cli")
BACKLOG = 1024  # connections the kernel queues for the workers to accept (waitress's own)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP API with waitress until SIGTERM or SIGINT."""
    settings = load_settings(args.config).with_overrides(
        host=args.host, port=args.port, threads=args.threads, workers=args.workers
    )
    problem = settings.shared_secret_problem()
    if problem is not None:
        return error(problem)
    try:
        import waitress  # noqa: F401  (create_server imports it)

        from ..server.connections import raise_open_files_limit
    except ImportError as exc:
        return error(f"serve needs the server extra (pip install '.[server]'): {exc}")
    configure_logging(settings.log_format)
    for warning in settings.warnings():
        log.warning("%s", warning)
    raise_open_files_limit(settings)
    if settings.workers > 1:
        return _serve_workers(settings, args.config)
    try:
        _serve(settings, lambda server, engine: _announce(
            listening(server), settings, engine, args.config
        ))
    except ListenError as exc:
        return error(str(exc), 1)
    return 0


def _serve(
    settings: Settings,
    started: Callable[[Any, Engine], None],
    *,
    declare: bool = True,
    **options: Any,
) -> None:
    """Serve the API in this process until a signal: the engine and the app that
    :func:`~tfa_engine.adapters.server.app.build_service` makes of the settings, on a
    waitress server (``options`` go to waitress)."""
    from ..server.app import build_service
    from ..server.connections import guard_connections, waitress_options

    engines: list[Engine] = []

    def create(sockets: dict[int, Any]) -> Any:
        service = build_service(settings, declare=declare)
        engines.append(service.engine)
        server = create_server(
            service.app, sockets, settings.host, settings.port, **waitress_options(settings),
            **options,
        )
        guard_connections(sockets)
        return server

    def on_start(server: Any) -> None:
        started(server, engines[0])

    def cleanup() -> None:
        for engine in engines:
            engine.close()

    run_until_signal(create, on_start, cleanup)


def _serve_workers(settings: Settings, config: str | None) -> int:
    """``settings.workers`` processes serving one socket, this one supervising them."""
    from ..server.workers import Supervisor, listening_socket, shared_metrics

    try:
        sock = listening_socket(settings.host, settings.port, backlog=BACKLOG)
    except OSError as exc:
        return error(f"cannot listen on {settings.host}:{settings.port}: {exc}", 1)
    with sock, shared_metrics(settings.metrics):
        engine = build_engine(settings)  # the file's tokens, installed once for all workers
        try:
            host, port = sock.getsockname()[:2]
            _announce([url(host, port)], settings, engine, config)
        finally:
            engine.close()

        def work(number: int, ready: Callable[[], None]) -> int:
            _serve(settings, lambda server, engine: ready(), declare=False, sockets=[sock])
            return 0

        return Supervisor(settings.workers, work, explain=_worker_failure(settings)).run()


def _worker_failure(settings: Settings) -> Callable[[BaseException], str | None]:
    """The line that says why a worker ended, in the words of the one-process server's
    error line for the errors an operator can fix; None for a fault of the program."""

    def explain(exc: BaseException) -> str | None:
        if isinstance(exc, ConfigError):
            return f"configuration error: {exc}"
        if isinstance(exc, StoreError):
            return f"database error: {exc}"
        if isinstance(exc, ListenError):
            return str(exc)
        if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
            return (f"{type(exc).__name__}: {exc} (TFA_THREADS={settings.threads}: lower it, "
                    "or raise the memory limit)")
        return None

    return explain


def _check_gateways(settings: Settings) -> None:
    """Check, in the background, the gateways whose kind is checked at start (an SMPP
    bind): a wrong password is then one line as the server starts, not a -65 later. The
    server serves on whatever the answer (an SMSC may come back; sends then bind again)."""

    def check() -> None:
        for spec in settings.gateways:
            if not spec.check_at_start:
                continue
            gateway = spec.build()
            try:
                gateway.check()
            except GatewayError as exc:
                log.error("gateway %s: %s", spec.name, exc.reason)
            finally:
                gateway.close()

    threading.Thread(target=check, name="tfa-gateway-check", daemon=True).start()


def say(line: str) -> None:
    """Print ``line`` and its newline in one write: the gateway check's thread logs to the
    same terminal or pipe meanwhile, and print() writes the newline apart when the output is
    unbuffered, so a log line could land between the two (a pipe read
    ``tfa serving on http://127.0.0.1:45419`` followed by that log line's date)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _announce(urls: list[str], settings: Settings, engine: Engine, config: str | None) -> None:
    _check_gateways(settings)
    for address in urls:
        say(f"tfa serving on {address}")
    log.info("gateway %s, %d worker%s, database %s",
             ", ".join(spec.name for spec in settings.gateways), settings.workers,
             "" if settings.workers == 1 else "s", settings.database_location)
    if not any(not record.revoked for record in engine.list_tokens()):
        hint = CREATE_HINT + (f" --config {shlex.quote(config)}" if config else "")
        say(f"No API token yet in {settings.database_location}. Create one with: {hint}")


def cmd_gateway_sim(args: argparse.Namespace) -> int:
    """Run the mediariver simulator until SIGTERM or SIGINT."""
    from ..gateway_sim import MediariverSimulator

    try:
        import waitress  # noqa: F401  (create_server imports it)
    except ImportError as exc:
        return error(f"gateway-sim needs the server extra (pip install '.[server]'): {exc}")
    configure_logging()
    sim = MediariverSimulator(
        username=args.username,
        password=args.password,
        dlr_url=args.dlr_url,
        dlr_statuses=tuple(args.dlr_status or ("DELIVRD",)),
        dlr_delay=args.dlr_delay,
        dlr_batch=args.dlr_batch,
    )

    def create(sockets: dict[int, Any]) -> Any:
        # Requests held by a hang fault occupy a thread each: more than waitress's 4.
        return create_server(
            sim, sockets, args.host, args.port, threads=8, ident="mediariver-simulator"
        )

    def started(server: Any) -> None:
        urls = listening(server)
        for address in urls:
            print(f"mediariver simulator on {address}", flush=True)
        print(
            f"  send with TFA_GATEWAY=mediariver TFA_MEDIARIVER_URL={urls[0]} "
            f"TFA_MEDIARIVER_USERNAME={args.username} TFA_MEDIARIVER_PASSWORD=...",
            flush=True,
        )
        print(f"  received messages: GET {urls[0]}/messages, in a browser: {urls[0]}/", flush=True)

    try:
        run_until_signal(create, started, sim.close)
    except ListenError as exc:
        return error(str(exc), 1)
    return 0


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``serve`` and ``gateway-sim`` to the ``tfa`` parser."""
    serve = commands.add_parser("serve", parents=[config], help="run the HTTP API (waitress)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    serve.add_argument(
        "--threads", type=int, metavar="N",
        help="threads per process (default 32: a request waiting on the gateway holds one)",
    )
    serve.add_argument(
        "--workers", type=int, metavar="N",
        help="server processes sharing the listening socket (default 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    sim = commands.add_parser(
        "gateway-sim",
        help="run a mediariver gateway simulator (an SMS catcher for development)",
        description="The mediariver simulator: it takes SMS as the real gateway does, lists "
        "them at GET /messages and in a browser at /, and can send delivery reports back.",
    )
    sim.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    sim.add_argument(
        "--port", type=int, default=9090, help="port; 0 picks a free one (default: %(default)s)"
    )
    sim.add_argument(
        "--dlr-url", metavar="URL",
        help="where to POST delivery reports, e.g. our /1/dlr/SECRET (default: none are sent)",
    )
    sim.add_argument(
        "--dlr-status", action="append", metavar="STATUS",
        help="delivery status to report, cycled; repeatable (default: DELIVRD)",
    )
    sim.add_argument(
        "--dlr-delay", type=float, default=0.0, metavar="SECONDS",
        help="wait before sending a report (default: %(default)s)",
    )
    sim.add_argument(
        "--dlr-batch", action="store_true",
        help="send reports as one array (default: one request per report)",
    )
    sim.add_argument(
        "--username", default="sim", help="Basic auth user it accepts (default: %(default)s)"
    )
    sim.add_argument(
        "--password", default="sim", help="Basic auth password it accepts (default: %(default)s)"
    )
    sim.set_defaults(handler=cmd_gateway_sim)
