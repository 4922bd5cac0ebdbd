"""The fraud guard's count of a range's recent codes in SQL, for every backend.

The guard asks how many codes a token sent to a number range within its window (from the
range's last release on) and how many of them were validated. Counting the codes
themselves costs as many index entries as the range had codes in the window: 5 ms of CPU
per request-code at 20,000. So the database keeps running totals, ``range_traffic``: per
(token, range, slice of :data:`~._ranges.SLICE` seconds of the codes' creation times), the
codes stored and, of those, the ones used. Triggers on ``codes`` keep them in the same
statement as each insert, each change of state to or from ``used``, and each deletion:
the totals are always exactly what a count of the codes would say (a test compares them),
whoever writes, however a process dies. A count then reads the totals of the slices that
lie wholly within the window and counts the codes of the one slice the window begins in:
a window of an hour is 225 rows and at most 16 seconds of codes.

A code's token, range and creation time never change (the triggers rely on it).
"""
# ruff: noqa: S608 - the SQL here is built from constants only

from __future__ import annotations

from typing import Any

from ._ranges import SLICE, slice_from, slice_of

# The running totals, and the first slice after a range's release (the totals count from
# there; the codes of the slice it fell in are counted one by one).
_TABLE = """CREATE TABLE range_traffic (
    token_id TEXT NOT NULL,
    prefix TEXT NOT NULL,
    slice BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (token_id, prefix, slice)
)"""


def _schema(table: str, slice_of_created: str, slice_from_released: str) -> tuple[str, ...]:
    """The table, and statements filling the totals from the codes already stored and the
    release slice of the ranges already released (``slice_...``: the dialect's SQL)."""
    return (
        table,
        "ALTER TABLE fraud_ranges ADD COLUMN released_slice BIGINT",
        "INSERT INTO range_traffic (token_id, prefix, slice, sent, used)"
        f" SELECT token_id, number_range, {slice_of_created}, count(*),"
        " sum(CASE WHEN state = 'used' THEN 1 ELSE 0 END) FROM codes"
        " WHERE number_range IS NOT NULL GROUP BY 1, 2, 3",
        f"UPDATE fraud_ranges SET released_slice = {slice_from_released}"
        " WHERE released_at IS NOT NULL",
    )


def _sqlite_floor(value: str) -> str:
    return f"(CAST({value} AS INTEGER) - ({value} < CAST({value} AS INTEGER)))"


def _sqlite_ceil(value: str) -> str:
    return f"(CAST({value} AS INTEGER) + ({value} > CAST({value} AS INTEGER)))"


def _sqlite_slice(at: str) -> str:
    return _sqlite_floor(f"{at} / {SLICE}.0")


SQLITE: tuple[str, ...] = (
    # Kept in primary-key order: a count reads consecutive rows.
    *_schema(_TABLE + " WITHOUT ROWID", _sqlite_slice("created_at"),
             _sqlite_ceil(f"released_at / {SLICE}.0")),
    "CREATE TRIGGER codes_traffic_sent AFTER INSERT ON codes BEGIN"
    " INSERT INTO range_traffic (token_id, prefix, slice, sent, used)"
    f" VALUES (NEW.token_id, NEW.number_range, {_sqlite_slice('NEW.created_at')}, 1,"
    " NEW.state = 'used')"
    " ON CONFLICT (token_id, prefix, slice) DO UPDATE SET sent = sent + 1,"
    " used = used + excluded.used; END",
    "CREATE TRIGGER codes_traffic_used AFTER UPDATE OF state ON codes"
    " WHEN (OLD.state = 'used') <> (NEW.state = 'used') BEGIN"
    " UPDATE range_traffic SET used = used + CASE WHEN NEW.state = 'used' THEN 1 ELSE -1 END"
    " WHERE token_id = OLD.token_id AND prefix = OLD.number_range"
    f" AND slice = {_sqlite_slice('OLD.created_at')}; END",
    "CREATE TRIGGER codes_traffic_gone AFTER DELETE ON codes BEGIN"
    " UPDATE range_traffic SET sent = sent - 1, used = used - (OLD.state = 'used')"
    " WHERE token_id = OLD.token_id AND prefix = OLD.number_range"
    f" AND slice = {_sqlite_slice('OLD.created_at')}; END",
)


def _pg_slice(at: str) -> str:
    return f"floor({at} / {SLICE})::bigint"


POSTGRESQL: tuple[str, ...] = (
    *_schema(_TABLE, _pg_slice("created_at"), f"ceil(released_at / {SLICE})::bigint"),
    f"""CREATE FUNCTION range_traffic_sent() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO range_traffic AS r (token_id, prefix, slice, sent, used)
        VALUES (NEW.token_id, NEW.number_range, {_pg_slice('NEW.created_at')}, 1,
                CASE WHEN NEW.state = 'used' THEN 1 ELSE 0 END)
        ON CONFLICT (token_id, prefix, slice)
        DO UPDATE SET sent = r.sent + 1, used = r.used + excluded.used;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER codes_traffic_sent AFTER INSERT ON codes"
    " FOR EACH ROW EXECUTE FUNCTION range_traffic_sent()",
    f"""CREATE FUNCTION range_traffic_used() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE range_traffic SET used = used + CASE WHEN NEW.state = 'used' THEN 1 ELSE -1 END
        WHERE token_id = OLD.token_id AND prefix = OLD.number_range
          AND slice = {_pg_slice('OLD.created_at')};
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER codes_traffic_used AFTER UPDATE OF state ON codes FOR EACH ROW"
    " WHEN ((OLD.state = 'used') <> (NEW.state = 'used'))"
    " EXECUTE FUNCTION range_traffic_used()",
    # Once per statement: a purge of many codes makes one update per slice, not per code,
    # and takes the rows in one order, so that deletions on several nodes at once (each
    # node purges) cannot deadlock.
    f"""CREATE FUNCTION range_traffic_gone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM range_traffic r JOIN (
            SELECT DISTINCT token_id, number_range, {_pg_slice('created_at')} AS slice
            FROM gone) g
        ON r.token_id = g.token_id AND r.prefix = g.number_range AND r.slice = g.slice
        ORDER BY r.token_id, r.prefix, r.slice FOR UPDATE OF r;
        UPDATE range_traffic r SET sent = r.sent - g.n, used = r.used - g.u
        FROM (SELECT token_id, number_range, {_pg_slice('created_at')} AS slice,
                     count(*) AS n, count(*) FILTER (WHERE state = 'used') AS u
              FROM gone GROUP BY 1, 2, 3) g
        WHERE r.token_id = g.token_id AND r.prefix = g.number_range AND r.slice = g.slice;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER codes_traffic_gone AFTER DELETE ON codes REFERENCING OLD TABLE AS gone"
    " FOR EACH STATEMENT EXECUTE FUNCTION range_traffic_gone()",
)

# A release counts afresh from that instant on: from the first whole slice after it in the
# totals, and one by one before that.
RELEASE = (
    "UPDATE fraud_ranges SET held_until = NULL, released_at = :now, released_slice = :rs"
    " WHERE token_id = :t AND prefix = :p AND held_until IS NOT NULL"
)

# Totals of slices no code is left in, once well behind every writer (a code is stored in
# the slice of its creation, now), are deleted by the purge.
PURGE = f"DELETE FROM range_traffic WHERE sent <= 0 AND slice * {SLICE} < :now - 1024"

_RELEASED = "FROM fraud_ranges WHERE token_id = :t AND prefix = :p"
# The codes sent and used within the window, from the last release on (a code of that very
# instant included): the totals of the whole slices, then the codes of the slice before.
COUNT: tuple[str, str] = (
    "SELECT 'traffic', coalesce(sum(sent), 0), coalesce(sum(used), 0), NULL, NULL"
    " FROM range_traffic WHERE token_id = :t AND prefix = :p AND slice > :first"
    f" AND slice >= coalesce((SELECT released_slice {_RELEASED}), :first)",
    "SELECT 'traffic', count(*),"
    " coalesce(sum(CASE WHEN state = 'used' THEN 1 ELSE 0 END), 0), NULL, NULL"
    " FROM codes WHERE token_id = :t AND number_range = :p AND created_at > :since"
    f" AND created_at >= coalesce((SELECT released_at {_RELEASED}), :since)"
    f" AND created_at < coalesce((SELECT CASE WHEN released_slice * {SLICE} > :whole"
    f" THEN released_slice * {SLICE} END {_RELEASED}), :whole)",
)


def count_params(since: float) -> dict[str, Any]:
    """:data:`COUNT`'s parameters beyond the token and range, for a window after ``since``:
    the slice ``since`` falls in (the totals count the slices after it) and where the
    next begins."""
    first = slice_of(since)
    return {"since": since, "first": first, "whole": float((first + 1) * SLICE)}


def release_params(token_id: str, prefix: str, now: float) -> dict[str, Any]:
    """:data:`RELEASE`'s parameters."""
    return {"t": token_id, "p": prefix, "now": now, "rs": slice_from(now)}
