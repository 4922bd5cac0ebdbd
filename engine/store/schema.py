"""Schema statements both SQL backends run as written (types both understand)."""

from __future__ import annotations

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
