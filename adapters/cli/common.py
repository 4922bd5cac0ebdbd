"""What every ``tfa`` command shares: its error line, times, and the engine it works on."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tfa_engine import Engine

from ..server import Settings, build_engine, load_settings
from ..server.logs import configure_logging
from ..server.service import PepperCheck, local_actor

CREATE_HINT = "tfa token create --name NAME"

__all__ = [
    "CREATE_HINT", "error", "open_configured", "open_engine", "timestamp",
    "warn_unknown_variables",
]


def error(message: str, code: int = 2) -> int:
    """Print ``tfa: message`` on stderr and return the exit code ``code``."""
    print(f"tfa: {message}", file=sys.stderr)
    return code


def timestamp(seconds: float | None) -> str | None:
    """An epoch time as UTC ISO 8601 (None stays None)."""
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def warn_unknown_variables(settings: Settings) -> None:
    """Name on stderr each ``TFA_*`` variable that is no setting: a misspelt
    ``TFA_DATABASE`` would otherwise send the command to another database unnoticed."""
    for name in settings.unknown_variables:
        print(f"tfa: warning: {name} is not a tfa setting; ignored", file=sys.stderr)


@contextmanager
def open_engine(args: argparse.Namespace) -> Iterator[Engine]:
    """The engine the settings describe, closed afterwards. Declared tokens are left alone:
    only the server installs the file's set."""
    with open_configured(args) as (_, engine):
        yield engine


@contextmanager
def open_configured(
    args: argparse.Namespace, pepper: PepperCheck = "verify"
) -> Iterator[tuple[Settings, Engine]]:
    """The settings and the engine they describe, closed afterwards. A pepper other than
    the database's is refused (``pepper="verify"``) but not recorded: only what hashes
    codes records it, so a command run with a forgotten pepper cannot decide it. Its
    administrative changes are made by ``cli:<host>:<user>`` in the audit trail."""
    settings = load_settings(args.config)
    warn_unknown_variables(settings)
    configure_logging(settings.log_format)  # audit records of what the command does
    engine = build_engine(settings, declare=False, pepper=pepper, actor=local_actor("cli"))
    try:
        yield settings, engine
    finally:
        engine.close()
