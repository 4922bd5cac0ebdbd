"""The ``tfa`` command: run the service, manage API tokens, purge old records.

Settings come from ``--config FILE`` (or ``$TFA_CONFIG``) and ``TFA_*`` variables, the
variable winning; ``serve``'s flags win over both. Exit codes: 0 done, 1 the thing asked
for does not exist or could not be done, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from tfa_engine import Engine, TokenRecord
from tfa_engine.access import invalid_allowlist_entries
from tfa_engine.config import ConfigError
from tfa_engine.requests import valid_sender_id
from tfa_engine.service import build_engine
from tfa_engine.settings import Settings, load_settings
from tfa_engine.store import StoreError

log = logging.getLogger("tfa.cli")

CREATE_HINT = "tfa token create --name NAME"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# -- helpers ---------------------------------------------------------------------------
def _error(message: str, code: int = 2) -> int:
    print(f"tfa: {message}", file=sys.stderr)
    return code


def _timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _token_json(record: TokenRecord) -> dict[str, Any]:
    """A token's public fields: never the token, never its digest."""
    return {
        "id": record.id,
        "name": record.name,
        "allowed_ips": list(record.allowed_ips),
        "sender_id": record.sender_id,
        "code_ttl": record.code_ttl,
        "max_attempts": record.max_attempts,
        "created_at": _timestamp(record.created_at),
        "revoked_at": _timestamp(record.revoked_at),
        "source": record.source,
    }


@contextmanager
def _engine(args: argparse.Namespace) -> Iterator[Engine]:
    # Token commands leave declared tokens alone: only the server installs the file's set.
    engine = build_engine(load_settings(args.config), declare=False)
    try:
        yield engine
    finally:
        engine.close()


# -- token commands ----------------------------------------------------------------------
def cmd_token_create(args: argparse.Namespace) -> int:
    """Issue a token and print it, this once."""
    bad = invalid_allowlist_entries(tuple(args.allow_ip))
    if bad:
        return _error(f"--allow-ip {bad[0]!r} is not an IP address or CIDR network")
    if args.sender_id is not None and not valid_sender_id(args.sender_id):
        return _error(
            f"--sender-id {args.sender_id!r} is neither <= 15 digits nor <= 11 letters"
        )
    with _engine(args) as engine:
        try:
            issued = engine.create_token(
                args.name, allowed_ips=args.allow_ip, sender_id=args.sender_id
            )
        except ValueError as exc:
            return _error(str(exc))
        callback_secret = engine.callback_secret(issued.record.id)
    record = issued.record
    if args.json:
        print(json.dumps(
            {**_token_json(record), "token": issued.token, "callback_secret": callback_secret}
        ))
        return 0
    print(f"Created token {record.id} ({record.name!r}).")
    print(f"  allowed IPs: {', '.join(record.allowed_ips) or 'any'}")
    print(f"  sender id:   {record.sender_id or 'the service default'}")
    print("The token is shown only this once; keep it secret:")
    print(f"\n    {issued.token}\n")
    print("Clients send it as the header  Authorization: Token <token>")
    if callback_secret:
        print(f"Callbacks carry X-TFA-Signature, an HMAC-SHA256 of the body keyed with: "
              f"{callback_secret}")
    else:
        print("Callbacks are signed with a key that changes at each start: set "
              "TFA_CALLBACK_KEY to give clients a secret they can verify.")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    """List tokens (never the tokens themselves)."""
    with _engine(args) as engine:
        records = engine.list_tokens()
    if args.json:
        print(json.dumps([_token_json(record) for record in records]))
        return 0
    if not records:
        print(f"No tokens yet. Create one with: {CREATE_HINT}")
        return 0
    rows = [("ID", "NAME", "ALLOWED IPS", "SENDER", "CREATED", "REVOKED", "SOURCE")]
    rows += [
        (
            r.id,
            r.name,
            ",".join(r.allowed_ips) or "any",
            r.sender_id or "-",
            _timestamp(r.created_at) or "-",
            _timestamp(r.revoked_at) or "-",
            r.source,
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by id; 1 when there is no such unrevoked token."""
    with _engine(args) as engine:
        record = next((r for r in engine.list_tokens() if r.id == args.id), None)
        if not engine.revoke_token(args.id):
            return _error(f"no active token with id {args.id!r}", code=1)
    print(f"Revoked token {args.id}.")
    if record is not None and record.source == "config":
        print(
            "It is declared in a configuration file: remove it there too, or the next "
            "`tfa serve` with that file installs it again.",
            file=sys.stderr,
        )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete records past retention and say how many."""
    with _engine(args) as engine:
        count = engine.purge()
    print(f"Deleted {count} record{'' if count == 1 else 's'} past retention.")
    return 0


# -- serve -------------------------------------------------------------------------------
def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def _stop_on_signals() -> Iterator[None]:
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


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP API with waitress until SIGTERM or SIGINT."""
    settings = load_settings(args.config).with_overrides(
        host=args.host, port=args.port, threads=args.threads
    )
    try:
        import waitress
        from tfa_engine.adapters.falcon import create_app
    except ImportError as exc:
        return _error(f"serve needs the server extra (pip install 'tfa-engine[server]'): {exc}")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    for warning in settings.warnings():
        log.warning("%s", warning)
    engine: Engine | None = None
    server: Any = None
    sockets: dict[int, Any] = {}
    # Signals are caught from here on, so one that arrives while starting also ends in a
    # clean exit 0. waitress's run() stops its loop and threads on KeyboardInterrupt.
    with _stop_on_signals():
        try:
            engine = build_engine(settings)
            app = create_app(
                engine,
                trusted_proxies=settings.trusted_proxies,
                forwarded_header=settings.forwarded_header,
                max_body=settings.max_body,
            )
            try:
                server = waitress.create_server(
                    app, map=sockets, host=settings.host, port=settings.port,
                    threads=settings.threads,
                )
            except (OSError, ValueError) as exc:
                return _error(f"cannot listen on {settings.host}:{settings.port}: {exc}", 1)
            _announce(server, settings, engine, args.config)
            engine.start()  # the callback dispatcher: pending callbacks go out after a restart
            server.run()
        except KeyboardInterrupt:  # a signal before the loop started
            pass
        finally:
            _close(server, sockets)
            if engine is not None:
                engine.close()
    log.info("stopped")
    return 0


def cmd_gateway_sim(args: argparse.Namespace) -> int:
    """Run the mediariver simulator until SIGTERM or SIGINT."""
    from tfa_engine.gateways import MediariverSimulator, serve_simulator

    try:
        import waitress  # noqa: F401  (serve_simulator imports it when called)
    except ImportError as exc:
        return _error(f"gateway-sim needs the server extra (tfa-engine[server]): {exc}")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    sim = MediariverSimulator(
        username=args.username,
        password=args.password,
        dlr_url=args.dlr_url,
        dlr_statuses=tuple(args.dlr_status or ("DELIVRD",)),
        dlr_delay=args.dlr_delay,
        dlr_batch=args.dlr_batch,
    )
    server: Any = None
    sockets: dict[int, Any] = {}
    with _stop_on_signals():
        try:
            try:
                server = serve_simulator(sim, host=args.host, port=args.port, map=sockets)
            except (OSError, ValueError) as exc:
                return _error(f"cannot listen on {args.host}:{args.port}: {exc}", 1)
            urls = _listening(server)
            for url in urls:
                print(f"mediariver simulator on {url}", flush=True)
            url = urls[0]
            print(
                f"  send with TFA_GATEWAY=mediariver TFA_MEDIARIVER_URL={url} "
                f"TFA_MEDIARIVER_USERNAME={args.username} TFA_MEDIARIVER_PASSWORD=...",
                flush=True,
            )
            print(f"  received messages: GET {url}/messages", flush=True)
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            sim.close()
            _close(server, sockets)
    log.info("stopped")
    return 0


def _listening(server: Any) -> list[str]:
    """The URLs a waitress server listens on: with several sockets (a host name with IPv4
    and IPv6 addresses) waitress lists them all."""
    listening = getattr(server, "effective_listen", None) or [
        (server.effective_host, server.effective_port)
    ]
    return [_url(str(host), int(port)) for host, port in listening]


def _close(server: Any, sockets: dict[int, Any]) -> None:
    """Stop a waitress server's threads (if it was made) and close its sockets."""
    from waitress import wasyncore

    if server is not None:
        server.task_dispatcher.shutdown()
    wasyncore.close_all(sockets)


def _announce(server: Any, settings: Settings, engine: Engine, config: str | None) -> None:
    for url in _listening(server):
        print(f"tfa serving on {url}", flush=True)
    log.info("gateway %s, database %s", settings.gateway, settings.database)
    if not any(not record.revoked for record in engine.list_tokens()):
        hint = CREATE_HINT + (f" --config {shlex.quote(config)}" if config else "")
        print(f"No API token yet. Create one with: {hint}", flush=True)


# -- the parser ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``tfa`` argument parser; each command sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="tfa", description="Self-hosted SMS two-factor authentication (Fortytwo-compatible)."
    )
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config", metavar="FILE", help="TOML settings file (default: $TFA_CONFIG, if set)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[config], help="run the HTTP API (waitress)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    serve.add_argument(
        "--threads", type=int, metavar="N",
        help="worker threads (default 32: a request waiting on the gateway holds one)",
    )
    serve.set_defaults(handler=cmd_serve)

    sim = commands.add_parser(
        "gateway-sim", help="run a mediariver gateway simulator (an SMS catcher for development)"
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=int, default=9090, help="port (0 picks a free one)")
    sim.add_argument("--dlr-url", help="where to POST delivery reports (e.g. our /1/dlr/SECRET)")
    sim.add_argument(
        "--dlr-status", action="append", metavar="STATUS",
        help="delivery status to report, cycled (repeatable; default DELIVRD)",
    )
    sim.add_argument("--dlr-delay", type=float, default=0.0, help="seconds before a report")
    sim.add_argument("--dlr-batch", action="store_true", help="send reports as one array")
    sim.add_argument("--username", default="sim", help="Basic auth user it accepts")
    sim.add_argument("--password", default="sim", help="Basic auth password it accepts")
    sim.set_defaults(handler=cmd_gateway_sim)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", parents=[config], help="issue a token")
    create.add_argument("--name", required=True, help="what the token is for")
    create.add_argument(
        "--allow-ip",
        action="append",
        default=[],
        metavar="IP_OR_CIDR",
        help="accept requests only from here (repeatable; default: any address)",
    )
    create.add_argument("--sender-id", help="default SMS sender for this token")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(handler=cmd_token_create)
    listing = token_commands.add_parser("list", parents=[config], help="list tokens")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token_commands.add_parser("revoke", parents=[config], help="revoke a token")
    revoke.add_argument("id", help="the token's id (see `tfa token list`)")
    revoke.set_defaults(handler=cmd_token_revoke)

    purge = commands.add_parser("purge", parents=[config], help="delete records past retention")
    purge.set_defaults(handler=cmd_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tfa`` with ``argv`` (default: the process arguments); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already explained
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        return _error(f"configuration error: {exc}")
    except StoreError as exc:
        return _error(f"database error: {exc}", code=1)


if __name__ == "__main__":
    raise SystemExit(main())
