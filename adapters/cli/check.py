"""``tfa check``: is the configured store writable, is the pepper the database's, and does
the gateway take our credentials? Sends no SMS; for deploy scripts (exit 0 only when all
hold)."""

from __future__ import annotations

import argparse

from tfa_engine import Engine
from tfa_engine.gateways import Gateway, GatewayError
from tfa_engine.store import PepperMismatch, StoreError, verify_pepper

from ..server import Settings, build_engine, load_settings, make_gateway
from ..server.logs import configure_logging
from .common import warn_unknown_variables


def cmd_check(args: argparse.Namespace) -> int:
    """Check the store (a round trip that writes), the pepper, and the gateway's
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
    gateway = engine.gateway if engine is not None else make_gateway(settings)
    try:
        store_ok = engine is not None and _check_store(engine, settings)
        gateway_ok = _check_gateway(gateway)
    finally:
        if engine is not None:
            engine.close()
        else:
            gateway.close()
    return 0 if store_ok and gateway_ok else 1


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
