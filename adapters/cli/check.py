"""``tfa check``: is the configured store writable and does the gateway take our
credentials? Sends no SMS; for deploy scripts (exit 0 only when both hold)."""

from __future__ import annotations

import argparse

from tfa_engine.gateways import GatewayError
from tfa_engine.store import StoreError

from .common import open_engine


def cmd_check(args: argparse.Namespace) -> int:
    """Check the store (a round trip that writes) and the gateway's credentials."""
    failed = False
    with open_engine(args) as engine:
        try:
            engine.ping()
            print("store: ok")
        except StoreError as exc:
            print(f"store: FAILED: {exc}")
            failed = True
        name = engine.gateway.label
        try:
            engine.gateway.check()
            print(f"gateway {name}: ok")
        except GatewayError as exc:
            print(f"gateway {name}: FAILED: {exc.reason}")
            failed = True
    return 1 if failed else 0


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``check`` to the ``tfa`` parser."""
    check = commands.add_parser(
        "check", parents=[config],
        help="check the store and the gateway's credentials (sends no SMS)",
    )
    check.set_defaults(handler=cmd_check)
