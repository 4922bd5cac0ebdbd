"""Records for the store tests: a fixed time, tokens and codes ready to store.

Importable from every test directory (pytest's ``pythonpath`` holds ``tests/support``).
"""

from __future__ import annotations

import itertools

from tfa_engine._access import TokenRecord
from tfa_engine.store import NewCode, Store

NOW = 1_700_000_000.0
TTL = 300.0
UK = "+447911123456"
DE = "+4915123456789"
FR = "+33612345678"
# A rate-limit window of 60 s that starts exactly at WINDOW (a multiple of 60).
WINDOW = 60 * 28_333_333.0

TOKEN_ID = "tok_a"

_message_ids = itertools.count(10**19)


def token_record(
    token_id: str = TOKEN_ID, *, created_at: float = NOW, **fields: object
) -> TokenRecord:
    """A token record whose digest is derived from its id unless given."""
    digest = str(fields.pop("token_hash", "digest-of-" + token_id))
    return TokenRecord(
        id=token_id,
        name="name-" + token_id,
        token_hash=digest,
        created_at=created_at,
        **fields,  # type: ignore[arg-type]
    )


def new_code(
    client_ref: str = "ref-1",
    *,
    token_id: str = TOKEN_ID,
    phone: str = UK,
    message_id: str | None = None,
    expires_at: float = NOW + TTL,
) -> NewCode:
    """A pending code ready to insert."""
    return NewCode(
        message_id=message_id or str(next(_message_ids)),
        token_id=token_id,
        client_ref=client_ref,
        phone=phone,
        code_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        code_length=6,
        case_sensitive=False,
        sender="TFA",
        callback_url=None,
        created_at=expires_at - TTL,
        expires_at=expires_at,
    )


def live_code(store: Store, client_ref: str = "ref-1", **kwargs: object) -> int:
    """Insert a code and activate it; its id."""
    code_id = store.insert_code(new_code(client_ref, **kwargs))  # type: ignore[arg-type]
    assert store.activate_code(code_id, NOW).state == "live"
    return code_id
