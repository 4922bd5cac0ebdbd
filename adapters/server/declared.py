"""Tokens declared in the settings file (``[[tokens]]`` tables), checked as they are read."""

from __future__ import annotations

from typing import Any

from tfa_engine.config import (
    TOKEN_OPTIONS,
    ConfigError,
    DeclaredToken,
    non_empty_text,
    secret_text,
)

TOKEN_KEYS = ("name", "token", *(option.name for option in TOKEN_OPTIONS))


def optional_text(raw: Any, label: str) -> str | None:
    """A non-empty string, or None for a value left out."""
    return None if raw is None else non_empty_text(raw, label)


def _declared_token(entry: Any, number: int, where: str) -> DeclaredToken:
    table = f"tokens[{number}] (in {where})"
    if not isinstance(entry, dict):
        raise ConfigError(f"{table} must be a table ([[tokens]])")
    unknown = sorted(set(entry) - set(TOKEN_KEYS))
    if unknown:
        raise ConfigError(f"{table}: unknown key {unknown[0]!r} (known: {', '.join(TOKEN_KEYS)})")
    for required in ("name", "token"):
        if required not in entry:
            raise ConfigError(f"{table} needs a {required!r}")
    name = non_empty_text(entry["name"], f"name of {table}")

    def label(key: str) -> str:
        return f"{key} of token {name!r} (in {where})"

    token = secret_text(entry["token"], label("token"))
    try:
        return DeclaredToken(
            name,
            (token or "").strip(),
            # Allowlist entries are kept as written: one that does not parse is a warning
            # and -66, not an error.
            **{option.name: option.read(entry.get(option.name), label(option.name))
               for option in TOKEN_OPTIONS},
        )
    except ConfigError as exc:
        raise exc.about(label(exc.key or "token")) from None


def declared_tokens(raw: Any, where: str) -> tuple[DeclaredToken, ...]:
    """The ``tokens`` array of the file ``where``; ConfigError naming what is wrong (an
    allowlist entry that does not parse is kept: it is a warning and -66, not an error)."""
    if not isinstance(raw, list):
        raise ConfigError(f"tokens (in {where}) must be an array of tables ([[tokens]])")
    tokens = tuple(
        _declared_token(entry, number, where) for number, entry in enumerate(raw, start=1)
    )
    names = [token.name for token in tokens]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"token {name!r} is declared more than once in {where}")
    values = [token.token for token in tokens]
    for token in tokens:
        if values.count(token.token) > 1:
            raise ConfigError(f"token {token.name!r} shares its token with another declared token")
    return tokens
