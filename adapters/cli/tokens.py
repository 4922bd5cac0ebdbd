"""``tfa token ...`` and ``tfa purge``: administration on the configured database."""

from __future__ import annotations

import argparse
import json
import sys

from tfa_engine.config import ConfigError

from . import token_edit
from .common import (
    CREATE_HINT,
    error,
    open_configured,
    open_engine,
    timestamp,
)
from .token_flags import FLAGS, add_flags, given_options, token_json


def cmd_token_create(args: argparse.Namespace) -> int:
    """Issue a token and print it, this once."""
    try:
        options = given_options(args, update=False)
    except ConfigError as exc:
        return error(str(exc))
    with open_engine(args) as engine:
        try:
            issued = engine.create_token(args.name, **options)
        except ConfigError as exc:
            return error(f"{FLAGS.get(exc.key or '', '--name')}: {exc}")
        callback_secret = engine.callback_secret(issued.record.id)
    record = issued.record
    if args.json:
        print(json.dumps(
            {**token_json(record), "token": issued.token, "callback_secret": callback_secret}
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
    with open_configured(args) as (settings, engine):
        records = engine.list_tokens()
    if args.json:
        print(json.dumps([token_json(record) for record in records]))
        return 0
    if not records:
        where = settings.database_location
        print(f"No tokens yet in {where}. Create one with: {CREATE_HINT}")
        return 0
    rows = [("ID", "NAME", "ALLOWED IPS", "DESTINATIONS", "SENDER", "CREATED", "LAST USED",
             "REVOKED", "SOURCE")]
    rows += [
        (
            r.id,
            r.name,
            ",".join(r.allowed_ips) or "any",
            ",".join(r.allowed_destinations) or "any",
            r.sender_id or "-",
            timestamp(r.created_at) or "-",
            timestamp(r.last_used_at) or "never",
            timestamp(r.revoked_at) or "-",
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
    """Revoke a token by id or name; 1 when there is no such active token."""
    with open_engine(args) as engine:
        record = engine.find_token(args.id)
        if record is None or not engine.revoke_token(record.id):
            return error(f"no active token with id or name {args.id!r}", code=1)
    print(f"Revoked token {record.id} ({record.name!r}).")
    if record is not None and record.source == "config":
        print(
            "It is declared in a configuration file: remove it there too, or the next "
            "`tfa serve` with that file installs it again.",
            file=sys.stderr,
        )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete records past retention and say how many."""
    with open_engine(args) as engine:
        count = engine.purge()
    print(f"Deleted {count} record{'' if count == 1 else 's'} past retention.")
    return 0


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``token create|list|revoke`` and ``purge`` to the ``tfa`` parser."""
    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", parents=[config], help="issue a token")
    create.add_argument("--name", required=True, help="what the token is for")
    add_flags(create, update=False)
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(handler=cmd_token_create)
    listing = token_commands.add_parser("list", parents=[config], help="list tokens")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token_commands.add_parser("revoke", parents=[config], help="revoke a token")
    revoke.add_argument("id", metavar="NAME_OR_ID", help="the token's name or id (tfa token list)")
    revoke.set_defaults(handler=cmd_token_revoke)
    token_edit.add_commands(token_commands, config)

    purge = commands.add_parser("purge", parents=[config], help="delete records past retention")
    purge.set_defaults(handler=cmd_purge)
