"""The ``tfa`` command: run the service, manage API tokens, purge old records.

Settings come from ``--config FILE`` (or ``$TFA_CONFIG``) and ``TFA_*`` variables, the
variable winning; ``serve``'s flags win over both. Exit codes: 0 done, 1 the thing asked
for does not exist or could not be done, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from tfa_engine import __version__
from tfa_engine.config import ConfigError
from tfa_engine.store import StoreError

from . import audit, check, fraud, pepper, serve, tokens
from .common import CREATE_HINT, error

__all__ = ["CREATE_HINT", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``tfa`` argument parser; each command sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="tfa", description="Self-hosted SMS two-factor authentication (Fortytwo-compatible)."
    )
    parser.add_argument("--version", action="version", version=f"tfa {__version__}")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config", metavar="FILE", help="TOML settings file (default: $TFA_CONFIG, if set)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_commands(commands, config)
    tokens.add_commands(commands, config)
    fraud.add_commands(commands, config)
    audit.add_commands(commands, config)
    check.add_commands(commands, config)
    pepper.add_commands(commands, config)
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
        return error(f"configuration error: {exc}")
    except StoreError as exc:
        return error(f"database error: {exc}", code=1)
