"""Tokens declared in a configuration file: the file is the truth for them.

A declaration is the same token as an earlier one when it has the same token value (a
rename or new options update it in place, keeping its codes) or, failing that, the same
name (a new value replaces the old one, which then stops working). Declarations the file
no longer holds are revoked. A malformed allowlist entry is kept: requests with that token
get -66 until the file is fixed, so a typo cannot stop a server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ._access import TokenRecord, invalid_allowlist_entries, token_digest
from ._token_options import OptionFields, option_values
from ._tokens import TokenAdmin, TokenOptions, check_name
from ._values import ConfigError
from .store import DuplicateToken, DuplicateTokenName, StoreError


@dataclass(frozen=True)
class DeclaredToken(OptionFields):
    """A token written into a configuration file, checked on construction. Its options
    (:class:`OptionFields`) are keyword arguments."""

    name: str
    token: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_name(self.name))
        if not isinstance(self.token, str) or not self.token.strip():
            raise ConfigError("a declared token must not be blank", key="token")
        for name, value in option_values(self.options()).items():
            object.__setattr__(self, name, value)

    def options(self) -> TokenOptions:
        """The token's options (checked: ConfigError naming the one at fault)."""
        return TokenOptions(**option_values(self))

    def invalid_allowlist_entries(self) -> list[str]:
        """The allowlist entries that do not parse (requests with this token get -66)."""
        return invalid_allowlist_entries(self.allowed_ips)


def declare(admin: TokenAdmin, spec: DeclaredToken) -> TokenRecord:
    """Install one declared token (see the module's docstring for what "the same" is)."""
    digest = token_digest(spec.token)
    same = admin.store.token_by_digest(digest)
    if same is not None and same.source != "config":
        raise DuplicateToken(same.id)
    if same is None:
        same = next(
            (t for t in admin.store.list_tokens() if t.source == "config" and t.name == spec.name),
            None,
        )
    token_id = same.id if same is not None else "cfg_" + secrets.token_hex(6)
    record = admin.record(token_id, spec.name, spec.token, "config", spec.options())
    if same is not None:
        record = replace(record, created_at=same.created_at)
    admin.store.put_token(record)
    return record


def declare_all(
    admin: TokenAdmin, declared: Iterable[DeclaredToken]
) -> tuple[list[TokenRecord], list[str]]:
    """Make the store's declared tokens those of a file: install each one and revoke the
    earlier declarations it no longer holds. Returns the installed records and the names
    of the tokens revoked; ConfigError naming a token that cannot be installed."""
    # Servers starting together on one database declare one at a time: each reads what the
    # others wrote, so a token is never installed twice under two ids.
    with admin.store.exclusive("declare-tokens"):
        installed = [_installed(admin, spec) for spec in declared]
        kept = {record.id for record in installed}
        revoked = []
        for record in admin.store.list_tokens():
            if record.source == "config" and record.id not in kept and not record.revoked:
                admin.revoke(record.id)
                revoked.append(record.name)
    return installed, revoked


def _installed(admin: TokenAdmin, spec: DeclaredToken) -> TokenRecord:
    try:
        return declare(admin, spec)
    except DuplicateTokenName:
        problem = "an active token issued through the API has that name"
    except DuplicateToken:
        problem = "its token is already in use by another token"
    except (ValueError, StoreError) as exc:
        problem = str(exc)
    raise ConfigError(f"declared token {spec.name!r} cannot be installed: {problem}")
