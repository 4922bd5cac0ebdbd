"""API tokens: issuing, declaring (from a configuration file), listing, revoking.

Only a token's digest is stored (see :mod:`tfa_engine.access`); the token itself exists
in clear only in the :class:`IssuedToken` returned once, or in the operator's file.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from . import audit
from .access import (
    IssuedToken,
    TokenRecord,
    invalid_allowlist_entries,
    new_token,
    new_token_id,
    token_digest,
)
from .config import (
    ConfigError,
    RateLimit,
    check_code_ttl,
    check_destinations,
    check_max_attempts,
    check_sender_id,
)
from .store import DuplicateToken, Store, StoreError


@dataclass(frozen=True)
class DeclaredToken:
    """A token written into a configuration file, checked on construction.

    Allowlist entries are kept as written: one that does not parse is not an error here
    (requests with the token then get -66), so a typo cannot stop a server.
    """

    name: str
    token: str = field(repr=False)
    allowed_ips: tuple[str, ...] = ()
    sender_id: str | None = None
    code_ttl: int | None = None
    max_attempts: int | None = None
    allowed_destinations: tuple[str, ...] = ()
    sms_budget: RateLimit | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("a token needs a name", key="name")
        if not isinstance(self.token, str) or not self.token.strip():
            raise ConfigError("a declared token must not be blank", key="token")
        object.__setattr__(self, "allowed_ips", tuple(self.allowed_ips))
        object.__setattr__(self, "allowed_destinations", check_overrides(
            self.sender_id, self.code_ttl, self.max_attempts, self.allowed_destinations,
            self.sms_budget,
        ))

    def options(self) -> dict[str, Any]:
        """The keyword arguments :meth:`TokenAdmin.declare` takes for this token."""
        return {
            "allowed_ips": self.allowed_ips, "sender_id": self.sender_id,
            "code_ttl": self.code_ttl, "max_attempts": self.max_attempts,
            "allowed_destinations": self.allowed_destinations, "sms_budget": self.sms_budget,
        }

    def invalid_allowlist_entries(self) -> list[str]:
        """The allowlist entries that do not parse (requests with this token get -66)."""
        return invalid_allowlist_entries(self.allowed_ips)


def check_overrides(
    sender_id: str | None,
    code_ttl: int | None,
    max_attempts: int | None,
    allowed_destinations: Iterable[str] = (),
    sms_budget: RateLimit | None = None,
) -> tuple[str, ...]:
    """The rules of a token's own settings (the engine's rules for the same values); the
    destinations as kept."""
    if sender_id is not None:
        check_sender_id(sender_id)
    if code_ttl is not None:
        check_code_ttl(code_ttl)
    if max_attempts is not None:
        check_max_attempts(max_attempts)
    if sms_budget is not None and not isinstance(sms_budget, RateLimit):
        raise ConfigError("sms_budget must be COUNT/SECONDS", key="sms_budget")
    return check_destinations(tuple(allowed_destinations))


class TokenAdmin:
    """Token administration on a store (``Engine.tokens``)."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def create(
        self,
        name: str,
        *,
        allowed_ips: Iterable[str] = (),
        sender_id: str | None = None,
        code_ttl: int | None = None,
        max_attempts: int | None = None,
        allowed_destinations: Iterable[str] = (),
        sms_budget: RateLimit | None = None,
    ) -> IssuedToken:
        """Issue a new token. The returned ``token`` is shown once; only its hash is kept.

        Raises ValueError (:class:`ConfigError`, whose ``key`` names the option) for a
        bad name, allowlist entry, sender id or override.
        """
        token = new_token()
        record = self._record(
            new_token_id(), name, token, "api", allowed_ips=allowed_ips, sender_id=sender_id,
            code_ttl=code_ttl, max_attempts=max_attempts,
            allowed_destinations=allowed_destinations, sms_budget=sms_budget,
        )
        bad = invalid_allowlist_entries(record.allowed_ips)
        if bad:
            raise ConfigError(
                f"{bad[0]!r} is not an IP address or CIDR network", key="allowed_ips"
            )
        self.store.add_token(record)
        audit.event("token.created", token_id=record.id, name=record.name)
        return IssuedToken(token, record)

    def declare(
        self,
        name: str,
        token: str,
        *,
        allowed_ips: Iterable[str] = (),
        sender_id: str | None = None,
        code_ttl: int | None = None,
        max_attempts: int | None = None,
        allowed_destinations: Iterable[str] = (),
        sms_budget: RateLimit | None = None,
    ) -> TokenRecord:
        """Install a token from a configuration file.

        A declaration is the same token as an earlier one when it has the same token
        value (a rename or a new allowlist updates it in place, keeping its codes) or,
        failing that, the same name (a rotated value replaces the old one, which then
        stops working). A malformed allowlist entry is kept: requests then get -66.
        """
        if not token:
            raise ConfigError("a declared token must not be empty", key="token")
        digest = token_digest(token)
        same = self.store.token_by_digest(digest)
        if same is not None and same.source != "config":
            raise DuplicateToken(same.id)
        if same is None:
            same = next(
                (t for t in self.store.list_tokens() if t.source == "config" and t.name == name),
                None,
            )
        token_id = same.id if same is not None else "cfg_" + secrets.token_hex(6)
        record = self._record(
            token_id, name, token, "config", allowed_ips=allowed_ips, sender_id=sender_id,
            code_ttl=code_ttl, max_attempts=max_attempts,
            allowed_destinations=allowed_destinations, sms_budget=sms_budget,
        )
        if same is not None:
            record = replace(record, created_at=same.created_at)
        self.store.put_token(record)
        return record

    def declare_all(
        self, declared: Iterable[DeclaredToken]
    ) -> tuple[list[TokenRecord], list[str]]:
        """Make the store's declared tokens those of a file: install each one, and revoke
        earlier declarations the file no longer holds (the file is the truth for them).

        Returns the installed records and the names of the tokens revoked. Raises
        ConfigError naming a token that cannot be installed.
        """
        # Servers starting together on one database declare one at a time: each reads what
        # the others wrote, so a token is never installed twice under two ids.
        with self.store.exclusive("declare-tokens"):
            return self._declare_all(declared)

    def _declare_all(
        self, declared: Iterable[DeclaredToken]
    ) -> tuple[list[TokenRecord], list[str]]:
        installed = []
        for spec in declared:
            try:
                installed.append(self.declare(spec.name, spec.token, **spec.options()))
            except DuplicateToken:
                raise ConfigError(
                    f"declared token {spec.name!r} cannot be installed: its token is already "
                    "in use by another token"
                ) from None
            except (ValueError, StoreError) as exc:
                raise ConfigError(
                    f"declared token {spec.name!r} cannot be installed: {exc}"
                ) from None
        kept = {record.id for record in installed}
        revoked = []
        for record in self.store.list_tokens():
            if record.source == "config" and record.id not in kept and not record.revoked:
                self.revoke(record.id)
                revoked.append(record.name)
        return installed, revoked

    def _record(
        self,
        token_id: str,
        name: str,
        token: str,
        source: str,
        *,
        allowed_ips: Iterable[str],
        sender_id: str | None,
        code_ttl: int | None,
        max_attempts: int | None,
        allowed_destinations: Iterable[str],
        sms_budget: RateLimit | None,
    ) -> TokenRecord:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("a token needs a name", key="name")
        destinations = check_overrides(
            sender_id, code_ttl, max_attempts, allowed_destinations, sms_budget
        )
        return TokenRecord(
            id=token_id,
            name=name.strip(),
            token_hash=token_digest(token),
            allowed_ips=tuple(str(ip).strip() for ip in allowed_ips),
            sender_id=sender_id,
            code_ttl=code_ttl,
            max_attempts=max_attempts,
            created_at=self.clock(),
            source=source,
            allowed_destinations=destinations,
            sms_budget=sms_budget,
        )

    def list(self) -> list[TokenRecord]:
        """Every token (digests only), oldest first."""
        return self.store.list_tokens()

    def revoke(self, token_id: str) -> bool:
        """Revoke at once; False when no such unrevoked token exists."""
        revoked = self.store.revoke_token(token_id, self.clock())
        if revoked:
            audit.event("token.revoked", token_id=token_id)
        return revoked
