"""The PostgreSQL schema, as an append-only list of migrations (each a list of statements,
run in one transaction with the version bump).

Times are epoch seconds in ``double precision``, as the store's contract passes them.
Constraint names are the ones :mod:`.sql` maps unique violations by.
"""

from __future__ import annotations

from ._schema import (
    FRAUD_SCHEMA,
    GATEWAYS,
    NUMBER_RANGES,
    RANGE_INDEX_WITHOUT_STATE,
    SENT_AND_CLAIMS,
    UNIQUE_TOKEN_NAMES,
)
from ._sql_meta import META_SCHEMA
from ._sql_traffic import POSTGRESQL as RANGE_TRAFFIC

# The advisory lock every migration runs under (an arbitrary constant: "tfa" in ASCII).
SCHEMA_LOCK = 0x746661

_MIGRATION_1 = (
    """CREATE TABLE tokens (
        id text CONSTRAINT tokens_pkey PRIMARY KEY,
        name text NOT NULL,
        token_hash text NOT NULL CONSTRAINT tokens_token_hash_key UNIQUE,
        allowed_ips text NOT NULL,
        sender_id text,
        code_ttl integer,
        max_attempts integer,
        created_at double precision NOT NULL,
        revoked_at double precision,
        source text NOT NULL,
        allowed_destinations text NOT NULL DEFAULT '[]',
        sms_budget text,
        last_used_at double precision
    )""",
    """CREATE TABLE codes (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id text NOT NULL CONSTRAINT codes_message_id_key UNIQUE,
        token_id text NOT NULL,
        client_ref text NOT NULL,
        phone text NOT NULL,
        code_hash text NOT NULL,
        code_length integer NOT NULL,
        case_sensitive boolean NOT NULL,
        sender text NOT NULL,
        callback_url text,
        created_at double precision NOT NULL,
        expires_at double precision NOT NULL,
        state text NOT NULL
            CHECK (state IN ('pending', 'live', 'used', 'locked', 'superseded')),
        attempts integer NOT NULL,
        api_job_id text NOT NULL DEFAULT '',
        delivery_status text,
        delivered_at double precision,
        CONSTRAINT codes_token_client_ref_key UNIQUE (token_id, client_ref)
    )""",
    # The database itself holds one live code per (token, phone).
    "CREATE UNIQUE INDEX codes_one_live_per_phone ON codes (token_id, phone)"
    " WHERE state = 'live'",
    "CREATE INDEX codes_phone ON codes (token_id, phone, state)",
    "CREATE INDEX codes_expires_at ON codes (expires_at)",
    """CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        token_id text NOT NULL,
        message_id text NOT NULL,
        url text NOT NULL,
        body text,
        kind text,
        status text,
        event_at double precision,
        state text NOT NULL,
        attempts integer NOT NULL,
        next_attempt_at double precision NOT NULL,
        last_error text,
        created_at double precision NOT NULL
    )""",
    "CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'pending'",
    "CREATE INDEX outbox_message ON outbox (message_id)",
    "CREATE INDEX outbox_settled ON outbox (created_at) WHERE state <> 'pending'",
    """CREATE TABLE rate_heads (
        key text PRIMARY KEY,
        taken bigint NOT NULL,
        ends_at double precision NOT NULL
    )""",
    "CREATE INDEX rate_heads_ends_at ON rate_heads (ends_at)",
    """CREATE TABLE rate_slots (
        key text NOT NULL,
        slot integer NOT NULL,
        at double precision NOT NULL,
        PRIMARY KEY (key, slot)
    )""",
    "CREATE TABLE probes (id integer PRIMARY KEY, at double precision)",
)

# Administrative events, append-only.
_ADMIN_EVENTS = (
    """CREATE TABLE admin_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at double precision NOT NULL,
        event text NOT NULL,
        actor text NOT NULL,
        token_id text,
        token_name text,
        detail text
    )""",
    "CREATE INDEX admin_events_at ON admin_events (at)",
)

# Every limit's head row is updated by each event it counts, a few rows by every request:
# with an index on ends_at, each update wrote new entries in both indexes and left the old
# ones for vacuum, so finding the row cost more with every request between two vacuums (a
# request-code's database CPU grew from 3.6 to 6.4 ms within 15 s at 250 a second). Without
# it, and with room left on each page, the updates are heap-only (HOT): the indexes stay as
# they are and each page prunes its own old versions. The purge finds expired heads by
# reading the table, once an hour.
_HOT_COUNTERS = (
    "DROP INDEX rate_heads_ends_at",
    "ALTER TABLE rate_heads SET (fillfactor = 50)",
    "ALTER TABLE rate_slots SET (fillfactor = 50)",
    "ALTER TABLE range_traffic SET (fillfactor = 50)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _MIGRATION_1, FRAUD_SCHEMA, UNIQUE_TOKEN_NAMES, SENT_AND_CLAIMS, META_SCHEMA, _ADMIN_EVENTS,
    GATEWAYS, NUMBER_RANGES, RANGE_TRAFFIC, _HOT_COUNTERS, RANGE_INDEX_WITHOUT_STATE,
)
