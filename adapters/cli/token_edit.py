"""``tfa token rotate`` and ``tfa token update``: change a token without reissuing it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tfa_engine.config import ConfigError, RateLimit

from .common import error, open_engine


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
    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.no_allow_ip:
        changes["allowed_ips"] = ()
    elif args.allow_ip:
        changes["allowed_ips"] = tuple(args.allow_ip)
    if args.no_allow_destination:
        changes["allowed_destinations"] = ()
    elif args.allow_destination:
        changes["allowed_destinations"] = tuple(args.allow_destination)
    if args.no_sender_id:
        changes["sender_id"] = None
    elif args.sender_id is not None:
        changes["sender_id"] = args.sender_id
    if args.no_sms_budget:
        changes["sms_budget"] = None
    elif args.sms_budget is not None:
        changes["sms_budget"] = RateLimit.parse(args.sms_budget)
    return changes


def cmd_token_update(args: argparse.Namespace) -> int:
    """Change a token's name, allowlist, destinations, sender or budget."""
    try:
        changes = _changes(args)
    except ConfigError as exc:
        return error(f"--sms-budget: {exc}")
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
    update.add_argument("--allow-ip", action="append", default=[], metavar="IP_OR_CIDR",
                        help="the new IP allowlist (repeatable; replaces the old one)")
    update.add_argument("--no-allow-ip", action="store_true", help="accept any address")
    update.add_argument("--allow-destination", action="append", default=[],
                        metavar="REGION_OR_PREFIX",
                        help="the new destination allowlist (repeatable; replaces the old one)")
    update.add_argument("--no-allow-destination", action="store_true",
                        help="send anywhere the service allows")
    update.add_argument("--sender-id", help="a new default sender")
    update.add_argument("--no-sender-id", action="store_true", help="use the service's sender")
    update.add_argument("--sms-budget", metavar="COUNT/SECONDS", help="a new SMS budget")
    update.add_argument("--no-sms-budget", action="store_true",
                        help="use the service's default budget")
    update.set_defaults(handler=cmd_token_update)
