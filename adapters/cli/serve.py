"""``tfa serve`` (the API) and ``tfa gateway-sim`` (the mediariver simulator), on waitress."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from typing import Any

from tfa_engine import Engine

from ..server import Settings, build_engine, load_settings
from ..server.serving import ListenError, create_server, listening, run_until_signal
from .common import CREATE_HINT, LOG_FORMAT, error

log = logging.getLogger("tfa.cli")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP API with waitress until SIGTERM or SIGINT."""
    settings = load_settings(args.config).with_overrides(
        host=args.host, port=args.port, threads=args.threads
    )
    try:
        import waitress  # noqa: F401  (create_server imports it)

        from ..falcon import create_app
        from ..server.connections import (
            guard_connections,
            raise_open_files_limit,
            waitress_options,
        )
    except ImportError as exc:
        return error(f"serve needs the server extra (pip install '.[server]'): {exc}")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    for warning in settings.warnings():
        log.warning("%s", warning)
    engines: list[Engine] = []

    raise_open_files_limit(settings)

    def create(sockets: dict[int, Any]) -> Any:
        engine = build_engine(settings)
        engines.append(engine)
        app = create_app(
            engine,
            trusted_proxies=settings.trusted_proxies,
            forwarded_header=settings.forwarded_header,
            max_body=settings.max_body,
        )
        server = create_server(
            app, sockets, settings.host, settings.port, **waitress_options(settings)
        )
        guard_connections(sockets)
        return server

    def started(server: Any) -> None:
        _announce(server, settings, engines[0], args.config)
        engines[0].start()  # the callback dispatcher: pending callbacks go out after a restart

    def cleanup() -> None:
        for engine in engines:
            engine.close()

    try:
        run_until_signal(create, started, cleanup)
    except ListenError as exc:
        return error(str(exc), 1)
    return 0


def _announce(server: Any, settings: Settings, engine: Engine, config: str | None) -> None:
    for url in listening(server):
        print(f"tfa serving on {url}", flush=True)
    log.info("gateway %s, database %s", settings.gateway, database_location(settings.database))
    if not any(not record.revoked for record in engine.list_tokens()):
        hint = CREATE_HINT + (f" --config {shlex.quote(config)}" if config else "")
        print(f"No API token yet. Create one with: {hint}", flush=True)


def database_location(database: str) -> str:
    """Where the database is, as an operator can find it: a file as an absolute path
    (the working directory of a service is rarely where one looks)."""
    return database if "://" in database else os.path.abspath(database)


def cmd_gateway_sim(args: argparse.Namespace) -> int:
    """Run the mediariver simulator until SIGTERM or SIGINT."""
    from ..gateway_sim import MediariverSimulator

    try:
        import waitress  # noqa: F401  (create_server imports it)
    except ImportError as exc:
        return error(f"gateway-sim needs the server extra (pip install '.[server]'): {exc}")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
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
        for url in urls:
            print(f"mediariver simulator on {url}", flush=True)
        print(
            f"  send with TFA_GATEWAY=mediariver TFA_MEDIARIVER_URL={urls[0]} "
            f"TFA_MEDIARIVER_USERNAME={args.username} TFA_MEDIARIVER_PASSWORD=...",
            flush=True,
        )
        print(f"  received messages: GET {urls[0]}/messages", flush=True)

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
        help="worker threads (default 32: a request waiting on the gateway holds one)",
    )
    serve.set_defaults(handler=cmd_serve)

    sim = commands.add_parser(
        "gateway-sim",
        help="run a mediariver gateway simulator (an SMS catcher for development)",
        description="The mediariver simulator: it takes SMS as the real gateway does, lists "
        "them at GET /messages, and can send delivery reports back.",
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
