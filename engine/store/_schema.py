"""Schema statements both SQL backends run as written (types both understand)."""

from __future__ import annotations

from ._ranges import RANGE_OF_PHONE

FRAUD_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE fraud_ranges (
        token_id TEXT NOT NULL,
        prefix TEXT NOT NULL,
        held_until DOUBLE PRECISION,
        released_at DOUBLE PRECISION,
        PRIMARY KEY (token_id, prefix)
    )""",
    "CREATE INDEX codes_token_phone_created ON codes (token_id, phone, created_at)",
)

# Token names tell tokens apart: unique among active ones. Earlier duplicates are renamed
# "<name>-<id>" first, the oldest keeping its name.
UNIQUE_TOKEN_NAMES: tuple[str, ...] = (
    "UPDATE tokens SET name = name || '-' || id WHERE revoked_at IS NULL AND id NOT IN"
    " (SELECT min(id) FROM tokens WHERE revoked_at IS NULL GROUP BY name)",
    "CREATE UNIQUE INDEX tokens_active_name_key ON tokens (name) WHERE revoked_at IS NULL",
)

# When a code's SMS was accepted (NULL while it never was: a code that went live, or was
# settled, had been), and which claim holds a callback (only its holder may post it).
SENT_AND_CLAIMS: tuple[str, ...] = (
    "ALTER TABLE codes ADD COLUMN sent_at DOUBLE PRECISION",
    "UPDATE codes SET sent_at = created_at WHERE state <> 'pending'",
    "ALTER TABLE outbox ADD COLUMN claim TEXT",
)

# Which gateway took each code's SMS, and the provider's id of it (its reports name that);
# a phone's recent codes, counted for its send limit from the codes themselves.
GATEWAYS: tuple[str, ...] = (
    "ALTER TABLE codes ADD COLUMN gateway TEXT",
    "ALTER TABLE codes ADD COLUMN provider_id TEXT",
    "CREATE INDEX codes_provider ON codes (gateway, provider_id)",
    "CREATE INDEX codes_phone_created ON codes (phone, created_at)",
)

# Each code files under the fraud guard's number range, so that counting a token's recent
# codes to a range reads only those in the window (the index on the phone bounded the range
# but not the time: it visited every code of the token in the range, however old), and from
# the index alone: it holds each code's state, so the validated ones are counted without
# reading the table (a third less CPU per request-code at 20,000 codes in the window).
# Codes stored before are filed by the same rule, so the guard counts them as before.
NUMBER_RANGES: tuple[str, ...] = (
    "ALTER TABLE codes ADD COLUMN number_range TEXT",
    f"UPDATE codes SET number_range = {RANGE_OF_PHONE}",  # noqa: S608
    "DROP INDEX codes_token_phone_created",
    "CREATE INDEX codes_token_range_created ON codes (token_id, number_range, created_at, state)",
)

# With the guard's running totals (migration 11), the index on a range's codes by time is
# read for one slice of codes at most, so it no longer carries each code's state: with it, a
# statement on a (token, phone) could be planned on this index, whose leading columns match
# the token and the state, and read every code of the token (PostgreSQL did, before it had
# statistics: 0.5 ms per activation at 3,000 codes, growing with each).
RANGE_INDEX_WITHOUT_STATE: tuple[str, ...] = (
    "DROP INDEX codes_token_range_created",
    "CREATE INDEX codes_token_range_created ON codes (token_id, number_range, created_at)",
)
