"""``tfa audit``: the administrative events the database keeps, from every node and every
command, oldest first (the newest last, as in a log)."""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from tfa_engine.audit import ADMIN_EVENTS, clean
from tfa_engine.store import AdminEvent

from .common import error, open_engine, timestamp

# Seconds in each unit of a --since duration.
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")


def since_time(text: str, now: float) -> float:
    """The epoch time ``--since`` means: a duration back from ``now`` (``90s``, ``30m``,
    ``24h``, ``7d``, ``2w``), or an ISO 8601 date or date and time (UTC unless it names
    an offset: ``2026-05-01``, ``2026-05-01T08:00``, ``2026-05-01T08:00:00+02:00``).
    Raises ValueError for anything else."""
    text = text.strip()
    duration = _DURATION.fullmatch(text)
    if duration:
        return now - int(duration[1]) * UNITS[duration[2]]
    try:  # Python before 3.11 reads no "Z"
        moment = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (24h, 7d) nor an ISO 8601 date or time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _event_json(event: AdminEvent) -> dict[str, Any]:
    return {
        "time": timestamp(event.at), "event": event.event, "token_id": event.token_id,
        "token_name": event.token_name, "actor": event.actor, "detail": event.detail,
    }


def cmd_audit(args: argparse.Namespace) -> int:
    """List the stored administrative events, oldest first."""
    try:
        since = None if args.since is None else since_time(args.since, time.time())
    except ValueError as exc:
        return error(f"--since: {exc}")
    with open_engine(args) as engine:
        events = engine.admin_trail.events(since, args.event or ())
    if args.json:
        print(json.dumps([_event_json(event) for event in events]))
    elif not events:
        print("No administrative events.")
    else:
        for event in events:
            token = f"{clean(event.token_name)!r} ({event.token_id})" if event.token_id else "-"
            detail = f"  {clean(event.detail)}" if event.detail else ""
            print(f"{timestamp(event.at)}  {event.event:<14}  token {token}  "
                  f"by {clean(event.actor)}{detail}")
    return 0


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config: argparse.ArgumentParser,
) -> None:
    """Add ``audit`` to the ``tfa`` parser."""
    audit = commands.add_parser(
        "audit", parents=[config], help="list administrative events (oldest first)",
        description="Administrative events (tokens created, rotated, updated, revoked; "
        "held ranges released) as the database keeps them, from every node and command, "
        "oldest first, with who made each: cli:HOST:USER for this command, api for an "
        "embedding app.",
    )
    audit.add_argument(
        "--since", metavar="T",
        help="only events at or after T: a duration back from now (30m, 24h, 7d, 2w) or an "
             "ISO 8601 date or date-time, UTC unless it names an offset (2026-05-01T08:00)",
    )
    audit.add_argument("--event", action="append", choices=ADMIN_EVENTS, metavar="EVENT",
                       help=f"only this event (repeatable): {', '.join(ADMIN_EVENTS)}")
    audit.add_argument("--json", action="store_true", help="print a JSON array")
    audit.set_defaults(handler=cmd_audit)
