"""A token's options, defined once.

:class:`OptionFields` holds what a token's owner may set; each field carries its
:class:`TokenOption`: the rule that checks it, how a database column, a JSON document, a
settings file and the ``tfa token`` flags hold it. The stored token record, the options of
a new token, a declared token, the SQL row mapping, the settings file's ``[[tokens]]`` keys
and the command line all derive from these fields, so a new option is one field here (and a
schema migration adding its column).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ._values import (
    ConfigError,
    RateLimit,
    check_code_ttl,
    check_destinations,
    check_max_attempts,
    check_sender_id,
    non_empty_text,
    text_list,
    whole_number,
)

# How a value is held outside Python: a list of text (a JSON array in its column), text, a
# whole number, or a rate limit (its COUNT/SECONDS text).
Kind = Literal["list", "text", "number", "rate"]
_OPTION = "tfa_engine.option"


@dataclass(frozen=True)
class OptionFlag:
    """How ``tfa token create`` and ``tfa token update`` take an option: ``name`` sets it
    (``--no-`` + the name, on update, returns it to ``unset``)."""

    name: str
    metavar: str | None
    help: str
    unset: str

    @property
    def dest(self) -> str:
        """The attribute argparse gives the flag's value."""
        return self.name.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class TokenOption:
    """One option of a token: its ``name`` (the field, the column and the settings key),
    its ``kind``, the ``check`` a new value passes (returning the value kept) and its
    command-line ``flag`` (None where the command line does not set it)."""

    name: str
    kind: Kind
    check: Callable[[Any], Any]
    flag: OptionFlag | None

    def to_column(self, value: Any) -> Any:
        """The value as its database column holds it."""
        if self.kind == "list":
            return json.dumps(list(value))
        if self.kind == "rate":
            return None if value is None else str(value)
        return value

    def from_column(self, value: Any) -> Any:
        """The value read back from its database column."""
        if self.kind == "list":
            return tuple(json.loads(value or "[]"))
        if self.kind == "rate":
            return None if value is None else RateLimit.parse(value)
        return value

    def to_json(self, value: Any) -> Any:
        """The value in a JSON document (``tfa token list --json``)."""
        return list(value) if self.kind == "list" else self.to_column(value)

    def read(self, raw: Any, label: str) -> Any:
        """A value as a settings file gives it (None: left out), converted for
        :attr:`check`; ConfigError naming ``label``."""
        if self.kind == "list":
            return text_list(() if raw is None else raw, label)
        if raw is None:
            return None
        if self.kind == "text":
            return non_empty_text(raw, label)
        if self.kind == "number":
            return whole_number(raw, label)
        return RateLimit.parse(raw)


def _option(default: Any, kind: Kind, check: Callable[[Any], Any],
            flag: OptionFlag | None = None) -> Any:
    return field(default=default, metadata={_OPTION: (kind, check, flag)})


def _unless_none(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        if value is not None:
            check(value)
        return value

    return checked


def _ip_entries(value: Any) -> tuple[str, ...]:
    # Kept as written, each stripped: whether an entry parses is the caller's to decide.
    if isinstance(value, str):
        raise ConfigError("allowed_ips must be a list", key="allowed_ips")
    return tuple(str(ip).strip() for ip in value)


def _rate(value: Any) -> RateLimit | None:
    if value is not None and not isinstance(value, RateLimit):
        raise ConfigError("sms_budget must be COUNT/SECONDS", key="sms_budget")
    return value


@dataclass(frozen=True, kw_only=True)
class OptionFields:
    """The options of a token, as values (unchecked here: see ``TokenOptions``)."""

    allowed_ips: tuple[str, ...] = _option((), "list", _ip_entries, OptionFlag(
        "--allow-ip", "IP_OR_CIDR", "accept requests only from here", "any address"))
    sender_id: str | None = _option(None, "text", _unless_none(check_sender_id), OptionFlag(
        "--sender-id", None, "default SMS sender for this token", "the service's sender"))
    code_ttl: int | None = _option(None, "number", _unless_none(check_code_ttl))
    max_attempts: int | None = _option(None, "number", _unless_none(check_max_attempts))
    # Where it may send SMS: ISO regions ("GB") or E.164 prefixes ("+4474"); empty = anywhere.
    allowed_destinations: tuple[str, ...] = _option(
        (), "list", lambda value: check_destinations(tuple(value)), OptionFlag(
            "--allow-destination", "REGION_OR_PREFIX",
            "send only to this ISO region (GB) or E.164 prefix (+4474)",
            "anywhere the service allows"))
    # Its own SMS budget, else the service's default.
    sms_budget: RateLimit | None = _option(None, "rate", _rate, OptionFlag(
        "--sms-budget", "COUNT/SECONDS", "at most COUNT SMS per SECONDS for this token",
        "TFA_LIMIT_TOKEN_SMS"))


TOKEN_OPTIONS: tuple[TokenOption, ...] = tuple(
    TokenOption(f.name, *f.metadata[_OPTION]) for f in fields(OptionFields)
)
TOKEN_OPTION_NAMES: tuple[str, ...] = tuple(option.name for option in TOKEN_OPTIONS)


def option_values(holder: OptionFields) -> dict[str, Any]:
    """The options of a record, a declared token or checked options, by name."""
    return {name: getattr(holder, name) for name in TOKEN_OPTION_NAMES}
