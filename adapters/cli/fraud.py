"""``tfa fraud list`` and ``tfa fraud release``: the number ranges the fraud guard holds."""

from __future__ import annotations

import argparse
import json

from .common import error, open_engine, timestamp


def cmd_fraud_list(args: argparse.Namespace) -> int:
    """List the ranges held now, with their token and the end of the hold."""
    with open_engine(args) as engine:
        names = {record.id: record.name for record in engine.list_tokens()}
        holds = engine.held_ranges()
    rows = [
        {"token_id": token_id, "token": names.get(token_id), "range": prefix,
         "held_until": timestamp(until)}
        for token_id, prefix, until in holds
    ]
    if args.json:
        print(json.dumps(rows))
    elif not rows:
        print("No range is held.")
    else:
        for row in rows:
            print(f"{row['range']}  token {row['token']!r} ({row['token_id']})  "
                  f"held until {row['held_until']}")
    return 0


def cmd_fraud_release(args: argparse.Namespace) -> int:
    """Release a held range of a token (given by id or name); 1 when it was not held."""
    with open_engine(args) as engine:
        record = engine.find_token(args.token)
        if record is None:
            return error(f"no active token with id or name {args.token!r}", code=1)
        if not engine.release_range(record.id, args.range):
            return error(f"range {args.range} of token {record.name!r} is not held", code=1)
    print(f"Released {args.range} for token {record.name!r}; its sends count afresh.")
    return 0


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``fraud list|release`` to the ``tfa`` parser."""
    fraud = commands.add_parser("fraud", help="number ranges the fraud guard holds")
    actions = fraud.add_subparsers(dest="fraud_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[config], help="list held ranges")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=cmd_fraud_list)
    release = actions.add_parser("release", parents=[config], help="release a held range")
    release.add_argument("token", help="the token's id or name")
    release.add_argument("range", help="the held range, e.g. +44791")
    release.set_defaults(handler=cmd_fraud_release)
