"""``tfa pepper adopt``: make the configured pepper the database's, on purpose."""

from __future__ import annotations

import argparse

from tfa_engine.store import adopt_pepper

from ..server.settings import variable_name
from .common import open_configured

SETTING = variable_name("pepper")  # TFA_PEPPER, as the user sets it


def cmd_pepper_adopt(args: argparse.Namespace) -> int:
    """Record the fingerprint of the configured pepper (or of none) in the database."""
    with open_configured(args, pepper="skip") as (settings, engine):
        changed = adopt_pepper(engine.store, settings.engine.pepper)
    where = settings.database_location
    what = f"the {SETTING} given" if settings.engine.pepper else f"no pepper ({SETTING} unset)"
    if changed is False:
        print(f"{where} has {what} already; nothing changed.")
    elif changed is None:
        print(f"{where} now has {what}: every process on it must have the same.")
    else:
        print(f"{where} now has {what}: codes hashed with the previous pepper no longer "
              "validate, and processes with another pepper refuse to start.")
    return 0


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``pepper adopt`` to the ``tfa`` parser."""
    pepper = commands.add_parser("pepper", help="the pepper codes are hashed with")
    actions = pepper.add_subparsers(dest="pepper_command", required=True, metavar="ACTION")
    adopt = actions.add_parser(
        "adopt", parents=[config],
        help="make the configured TFA_PEPPER the database's (codes hashed with another "
             "stop validating)",
    )
    adopt.set_defaults(handler=cmd_pepper_adopt)
