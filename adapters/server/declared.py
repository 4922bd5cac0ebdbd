"""Tokens declared in the settings file (``[[tokens]]`` tables), checked as they are read."""

from __future__ import annotations

from typing import Any

from tfa_engine.config import (
    ConfigError,
    DeclaredToken,
    RateLimit,
    non_empty_text,
    secret_text,
    text_list,
    whole_number,
)

TOKEN_KEYS = (
    "name", "token", "allowed_ips", "sender_id", "code_ttl", "max_attempts",
    "allowed_destinations", "sms_budget",
)


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

    def number_or_none(key: str) -> int | None:
        value = entry.get(key)
        return None if value is None else whole_number(value, label(key))

    token = secret_text(entry["token"], label("token"))
    budget = entry.get("sms_budget")
    try:
        return DeclaredToken(
            name=name,
            token=(token or "").strip(),
            # Kept as written: an entry that does not parse is a warning and -66, not an error.
            allowed_ips=text_list(entry.get("allowed_ips", ()), label("allowed_ips")),
            sender_id=optional_text(entry.get("sender_id"), label("sender_id")),
            code_ttl=number_or_none("code_ttl"),
            max_attempts=number_or_none("max_attempts"),
            allowed_destinations=text_list(
                entry.get("allowed_destinations", ()), label("allowed_destinations")
            ),
            sms_budget=None if budget is None else RateLimit.parse(budget),
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
