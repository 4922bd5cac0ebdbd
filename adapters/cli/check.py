"""``tfa check``: is the configured store writable, is the pepper the database's, and does
each gateway take our credentials? Sends no SMS; for deploy scripts (exit 0 only when all
hold)."""

from __future__ import annotations

import argparse

from tfa_engine import Engine
from tfa_engine.gateways import Gateway, GatewayError
from tfa_engine.store import PepperMismatch, StoreError, verify_pepper

from ..server import Settings, build_engine, load_settings
from ..server.logs import configure_logging
from .common import warn_unknown_variables


def cmd_check(args: argparse.Namespace) -> int:
    """Check the store (a round trip that writes), the pepper, and each gateway's
    credentials. A store that cannot be opened is one failed check, named as such: the
    gateway is checked all the same."""
    settings = load_settings(args.config)
    warn_unknown_variables(settings)
    configure_logging(settings.log_format)
    engine: Engine | None = None
    try:
        engine = build_engine(settings, declare=False, pepper="skip")
    except StoreError as exc:
        print(f"store: FAILED: {exc}")
    try:
        store_ok = engine is not None and _check_store(engine, settings)
    finally:
        if engine is not None:
            engine.close()
    # Every gateway on its own (none behind a breaker or a route): each gets its line.
    gateways_ok = [_check_gateway(spec.build()) for spec in settings.gateways]
    return 0 if store_ok and all(gateways_ok) else 1


def _check_store(engine: Engine, settings: Settings) -> bool:
    try:
        engine.ping()
        print("store: ok")
        verify_pepper(engine.store, settings.engine.pepper)
    except StoreError as exc:
        print(f"store: FAILED: {exc}")
        return False
    except PepperMismatch as exc:
        print(f"pepper: FAILED: {exc}")
        return False
    print("pepper: ok")
    return True


def _check_gateway(gateway: Gateway) -> bool:
    try:
        gateway.check()
    except GatewayError as exc:
        print(f"gateway {gateway.label}: FAILED: {exc.reason}")
        return False
    finally:
        gateway.close()
    print(f"gateway {gateway.label}: ok")
    return True


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``check`` to the ``tfa`` parser."""
    check = commands.add_parser(
        "check", parents=[config],
        help="check the store, the pepper and the gateway's credentials (sends no SMS)",
    )
    check.set_defaults(handler=cmd_check)
