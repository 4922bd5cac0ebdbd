"""API tokens: issuing, finding, rotating, updating, listing, revoking.

Only a token's digest is stored (see :mod:`tfa_engine._access`); the token itself exists
in clear only in the :class:`IssuedToken` returned once (by :meth:`TokenAdmin.create` and
:meth:`TokenAdmin.rotate`), or in the operator's file (:mod:`tfa_engine._declared`). Names
tell tokens apart: no two active tokens share one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ._access import (
    IssuedToken,
    TokenRecord,
    invalid_allowlist_entries,
    new_token,
    new_token_id,
    token_digest,
)
from ._audit import AdminTrail
from ._token_options import TOKEN_OPTIONS, OptionFields, option_values
from ._values import ConfigError
from .store import DuplicateTokenName, Store

USE_NOTED_EVERY = 60.0  # seconds: a token's last use is written at most this often


@dataclass(frozen=True, kw_only=True)
class TokenOptions(OptionFields):
    """What a token's owner may set, checked on construction with the engine's rules for
    the same values. Allowlist entries are kept as written (see :meth:`check_allowlist`)."""

    def __post_init__(self) -> None:
        for option in TOKEN_OPTIONS:
            object.__setattr__(self, option.name, option.check(getattr(self, option.name)))

    @classmethod
    def of(cls, record: TokenRecord) -> TokenOptions:
        """The options a stored token has."""
        return cls(**option_values(record))

    def check_allowlist(self) -> TokenOptions:
        """Refuse an allowlist entry that does not parse (tokens issued through the API;
        a declared token keeps it, and its requests get -66 until the file is fixed)."""
        bad = invalid_allowlist_entries(self.allowed_ips)
        if bad:
            raise ConfigError(f"{bad[0]!r} is not an IP address or CIDR network",
                              key="allowed_ips")
        return self


def check_name(name: Any) -> str:
    """A token's name, stripped; ConfigError when blank."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("a token needs a name", key="name")
    return name.strip()


class TokenAdmin:
    """Token administration on a store (behind :class:`~tfa_engine.Engine`'s token
    methods). Each change is an administrative event of ``trail`` (default: one whose
    actor is ``api``)."""

    def __init__(self, store: Store, clock: Callable[[], float],
                 trail: AdminTrail | None = None) -> None:
        self.store = store
        self.clock = clock
        self.trail = trail if trail is not None else AdminTrail(store, clock, "api")

    def record(self, token_id: str, name: str, token: str, source: str,
               options: TokenOptions) -> TokenRecord:
        """A token's stored form (its digest, never the token)."""
        return TokenRecord(
            id=token_id, name=check_name(name), token_hash=token_digest(token),
            created_at=self.clock(), source=source,
            **option_values(options),
        )

    def create(self, name: str, **options: Any) -> IssuedToken:
        """Issue a new token with ``options`` (the fields of :class:`TokenOptions`). The
        returned ``token`` is shown once; only its digest is kept.

        Raises :class:`ConfigError` (a ValueError, whose ``key`` names the option) for a bad
        name, allowlist entry, sender id, override or a name another active token has.
        """
        token = new_token()
        record = self.record(new_token_id(), name, token, "api",
                             TokenOptions(**options).check_allowlist())
        self._store(self.store.add_token, record)
        self.trail.record("token.created", token_id=record.id, name=record.name)
        return IssuedToken(token, record)

    def _store(self, write: Callable[[TokenRecord], None], record: TokenRecord) -> None:
        try:
            write(record)
        except DuplicateTokenName:
            raise ConfigError(
                f"a token named {record.name!r} exists already: names tell tokens apart",
                key="name",
            ) from None

    def find(self, name_or_id: str) -> TokenRecord | None:
        """The active token with this id or name (an id wins), else None."""
        active = [record for record in self.store.list_tokens() if not record.revoked]
        by_id = next((r for r in active if r.id == name_or_id), None)
        return by_id or next((r for r in active if r.name == name_or_id), None)

    def _editable(self, name_or_id: str) -> TokenRecord:
        record = self.find(name_or_id)
        if record is None:
            raise LookupError(f"no active token with id or name {name_or_id!r}")
        if record.source == "config":
            raise ConfigError(
                f"token {record.name!r} is declared in the configuration file: change it there"
            )
        return record

    def rotate(self, name_or_id: str) -> IssuedToken:
        """A new value for a token, same id and settings: the old value stops working at
        once. The new ``token`` is shown once. LookupError when there is no such token."""
        record = self._editable(name_or_id)
        token = new_token()
        rotated = replace(record, token_hash=token_digest(token))
        self.store.put_token(rotated)
        self.trail.record("token.rotated", token_id=record.id, name=record.name)
        return IssuedToken(token, rotated)

    def update(self, name_or_id: str, *, name: str | None = None,
               **changes: Any) -> TokenRecord:
        """Change a token's name or options (the fields of :class:`TokenOptions` given);
        the rest stays. LookupError when there is no such token."""
        record = self._editable(name_or_id)
        options = replace(TokenOptions.of(record), **changes)
        if "allowed_ips" in changes:
            options.check_allowlist()
        updated = replace(record, name=check_name(name if name is not None else record.name),
                          **option_values(options))
        self._store(self.store.put_token, updated)
        changed = ",".join(sorted([*changes, *(["name"] if name is not None else [])]))
        self.trail.record("token.updated", token_id=record.id, name=updated.name,
                          detail=changed, changed=changed)
        return updated

    def list(self) -> list[TokenRecord]:
        """Every token (digests only), oldest first."""
        return self.store.list_tokens()

    def revoke(self, name_or_id: str) -> bool:
        """Revoke the active token with this id or name at once; False when there is none."""
        record = self.find(name_or_id)
        if record is None or not self.store.revoke_token(record.id, self.clock()):
            return False
        self.trail.record("token.revoked", token_id=record.id, name=record.name)
        return True

    def note_use(self, record: TokenRecord, now: float) -> None:
        """Remember that the token was used (at most every :data:`USE_NOTED_EVERY` s)."""
        if record.last_used_at is None or now - record.last_used_at >= USE_NOTED_EVERY:
            self.store.touch_token(record.id, now)

