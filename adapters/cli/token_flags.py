"""The flags of ``tfa token create`` and ``tfa token update`` that set a token's options,
derived from the options themselves (:data:`tfa_engine.config.TOKEN_OPTIONS`)."""

from __future__ import annotations

import argparse
from typing import Any

from tfa_engine.config import TOKEN_OPTIONS, ConfigError, OptionFlag, TokenOption
from tfa_engine.store import TokenRecord

from .common import timestamp

__all__ = ["FLAGS", "add_flags", "given_options", "token_json"]

FLAGGED: tuple[tuple[TokenOption, OptionFlag], ...] = tuple(
    (option, option.flag) for option in TOKEN_OPTIONS if option.flag is not None
)
# The flag that gives each setting, to name it in an error.
FLAGS = {"name": "--name", **{option.name: flag.name for option, flag in FLAGGED}}


def add_flags(parser: argparse.ArgumentParser, *, update: bool) -> None:
    """The option flags of ``token create``, or of ``token update`` (where a flag replaces
    what the token has and ``--no-`` + the flag returns it to the default)."""
    for option, flag in FLAGGED:
        many = option.kind == "list"
        if update:
            change = "repeatable; replaces the old list" if many else "replaces the old value"
            text = f"{flag.help} ({change})"
        else:
            text = f"{flag.help} ({'repeatable; ' if many else ''}default: {flag.unset})"
        if many:
            parser.add_argument(flag.name, action="append", default=[], metavar=flag.metavar,
                                help=text)
        else:
            parser.add_argument(flag.name, metavar=flag.metavar, help=text)
        if update:
            parser.add_argument("--no-" + flag.name.removeprefix("--"), action="store_true",
                                help=f"back to the default: {flag.unset}")


def given_options(args: argparse.Namespace, *, update: bool) -> dict[str, Any]:
    """The options the flags give: on update only those given (``--no-...`` giving the
    default). ConfigError, naming the flag, for a value that does not read."""
    options: dict[str, Any] = {}
    for option, flag in FLAGGED:
        value = getattr(args, flag.dest)
        if update and getattr(args, "no_" + flag.dest):
            options[option.name] = () if option.kind == "list" else None
        elif option.kind == "list":
            if value or not update:
                options[option.name] = tuple(value)
        elif value is not None or not update:
            options[option.name] = _read(option, flag, value)
    return options


def _read(option: TokenOption, flag: OptionFlag, value: str | None) -> Any:
    if value is None or option.kind == "text":
        return value
    try:
        return option.read(value, flag.name)
    except ConfigError as exc:
        raise ConfigError(f"{flag.name}: {exc}", key=option.name) from None


def token_json(record: TokenRecord) -> dict[str, Any]:
    """A token's public fields: never the token, never its digest."""
    return {
        "id": record.id,
        "name": record.name,
        **{option.name: option.to_json(getattr(record, option.name))
           for option in TOKEN_OPTIONS},
        "created_at": timestamp(record.created_at),
        "last_used_at": timestamp(record.last_used_at),
        "revoked_at": timestamp(record.revoked_at),
        "source": record.source,
    }
