"""``tfa token rotate`` and ``tfa token update``: change a token without reissuing it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tfa_engine.config import ConfigError

from .common import error, open_engine
from .token_flags import add_flags, given_options


def cmd_token_rotate(args: argparse.Namespace) -> int:
    """Give a token a new value (same id and settings); the old value dies at once."""
    with open_engine(args) as engine:
        try:
            issued = engine.rotate_token(args.token)
        except (LookupError, ConfigError) as exc:
            return error(str(exc).strip("'\""), code=1)
    record = issued.record
    if args.json:
        print(json.dumps({"id": record.id, "name": record.name, "token": issued.token}))
        return 0
    print(f"Rotated token {record.id} ({record.name!r}); the old value no longer works.")
    print("The new token is shown only this once; keep it secret:")
    print(f"\n    {issued.token}\n")
    return 0


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """What the flags of ``token update`` change: only what was given."""
    changes = given_options(args, update=True)
    return changes if args.name is None else {"name": args.name, **changes}


def cmd_token_update(args: argparse.Namespace) -> int:
    """Change a token's name, allowlist, destinations, sender or budget."""
    try:
        changes = _changes(args)
    except ConfigError as exc:
        return error(str(exc))
    if not changes:
        return error("nothing to change: give at least one option (see --help)")
    with open_engine(args) as engine:
        try:
            record = engine.update_token(args.token, **changes)
        except LookupError as exc:
            return error(str(exc).strip("'\""), code=1)
        except ConfigError as exc:
            return error(str(exc))
    print(f"Updated token {record.id} ({record.name!r}).")
    return 0


def add_commands(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``rotate`` and ``update`` to ``tfa token``."""
    rotate = actions.add_parser("rotate", parents=[config], help="give a token a new value")
    rotate.add_argument("token", metavar="NAME_OR_ID", help="the token's name or id")
    rotate.add_argument("--json", action="store_true", help="print one JSON object")
    rotate.set_defaults(handler=cmd_token_rotate)
    update = actions.add_parser("update", parents=[config], help="change a token's settings")
    update.add_argument("token", metavar="NAME_OR_ID", help="the token's name or id")
    update.add_argument("--name", help="a new name")
    add_flags(update, update=True)
    update.set_defaults(handler=cmd_token_update)
