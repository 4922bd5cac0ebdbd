"""Service settings: a flat TOML file and ``TFA_*`` environment variables, the variable winning.

Read once at an entry point (the ``tfa`` command, an app factory) and passed down; nothing
below the entry points reads the environment. Every key of the file is the name of its
variable in lower case without the prefix (``TFA_CODE_TTL`` is ``code_ttl``); the file may
also declare tokens as ``[[tokens]]`` tables. An environment variable set to an empty string
counts as unset.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import catalogue
from .access import invalid_allowlist_entries
from .config import MAX_CODE_TTL, ConfigError, EngineConfig, RateLimit, parse_bool
from .hashing import PROFILES
from .requests import valid_sender_id

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published separately before 3.11
    tomllib: Any = importlib.import_module("tomli")

ENV_PREFIX = "TFA_"
CONFIG_VARIABLE = "TFA_CONFIG"  # where to find the file when no path is given
GATEWAYS = ("console", "memory", "mediariver")
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")
TOKEN_KEYS = ("name", "token", "allowed_ips", "sender_id", "code_ttl", "max_attempts")
MAX_PORT = 65535
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() also takes "１２" and "١٢"


@dataclass(frozen=True)
class DeclaredToken:
    """A token written into the configuration file (installed with ``Engine.declare_token``)."""

    name: str
    token: str = field(repr=False)
    allowed_ips: tuple[str, ...] = ()
    sender_id: str | None = None
    code_ttl: int | None = None
    max_attempts: int | None = None

    def invalid_allowlist_entries(self) -> list[str]:
        """The allowlist entries that do not parse (requests with this token get -66)."""
        return invalid_allowlist_entries(self.allowed_ips)


@dataclass(frozen=True)
class Settings:
    """Everything ``tfa`` runs by: the service's own settings plus the engine's."""

    database: str = "./tfa.db"
    gateway: str = "console"
    mediariver_url: str | None = None
    mediariver_username: str | None = None
    mediariver_password: str | None = field(default=None, repr=False)
    mediariver_deadline: int = 10  # seconds one send may take, retries included
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 32
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: str = "x-forwarded-for"
    max_body: int = 16384
    engine: EngineConfig = field(default_factory=EngineConfig)
    tokens: tuple[DeclaredToken, ...] = ()
    unknown_variables: tuple[str, ...] = ()  # TFA_* variables that are no setting

    def __post_init__(self) -> None:
        # The same checks as the loader's, so replace() and direct construction are safe too.
        for name, convert in _SERVICE_SETTINGS.items():
            object.__setattr__(self, name, convert(getattr(self, name), name))
        if self.gateway == "mediariver":
            missing = [
                variable_name(key)
                for key in ("mediariver_url", "mediariver_username", "mediariver_password")
                if not getattr(self, key)
            ]
            if missing:
                raise ConfigError(f"the mediariver gateway needs {', '.join(missing)}")
            if not str(self.mediariver_url).startswith(("http://", "https://")):
                raise ConfigError("TFA_MEDIARIVER_URL must be an http(s) URL")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given settings changed; None means "keep" (unset CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def token_warnings(self) -> list[str]:
        """One line per declared allowlist entry that does not parse, naming token and entry."""
        code = catalogue.ALLOWLIST_INVALID.code
        return [
            f"token {token.name!r}: allowed_ips entry {entry!r} is not an IP address or "
            f"CIDR network; requests with this token get {code} until it is fixed"
            for token in self.tokens
            for entry in token.invalid_allowlist_entries()
        ]

    def warnings(self) -> list[str]:
        """Everything worth telling an operator at start-up that does not stop the service."""
        ignored = [f"{name} is not a tfa setting; ignored" for name in self.unknown_variables]
        return self.token_warnings() + ignored


# -- converters: (raw value, label naming where it came from) -> checked value ------------
def _text(raw: Any, label: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{label} must be a non-empty string, not {raw!r}")
    return raw.strip()


def _optional_text(raw: Any, label: str) -> str | None:
    return None if raw is None else _text(raw, label)


def _secret(raw: Any, label: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{label} must be a non-empty string")  # never echo a secret
    return raw


def whole_number(raw: Any, label: str, low: int | None = None, high: int | None = None) -> int:
    """An integer from TOML or from text (ASCII digits only), optionally within bounds."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ConfigError(f"{label} must be a whole number, not {raw!r}")
    if isinstance(raw, str) and not _WHOLE_NUMBER.fullmatch(raw.strip()):
        raise ConfigError(f"{label} must be a whole number, not {raw!r}")
    number = int(raw)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{label} must be {bounds}, not {number}")
    return number


def text_list(raw: Any, label: str) -> tuple[str, ...]:
    """A TOML array of strings, or one comma-separated string (as in a variable)."""
    if isinstance(raw, str):
        items: list[Any] = raw.split(",")
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise ConfigError(f"{label} must be a list or a comma-separated string, not {raw!r}")
    if not all(isinstance(item, (str, int, float)) for item in items):
        raise ConfigError(f"{label} must hold strings, not {raw!r}")
    return tuple(text for text in (str(item).strip() for item in items) if text)


def _networks(raw: Any, label: str) -> tuple[str, ...]:
    entries = text_list(raw, label)
    bad = invalid_allowlist_entries(entries)
    if bad:
        raise ConfigError(f"{label}: {bad[0]!r} is not an IP address or CIDR network")
    return entries


def _gateway(raw: Any, label: str) -> str:
    name = _text(raw, label).lower()
    available = ", ".join(GATEWAYS)
    if name not in GATEWAYS:
        raise ConfigError(f"{label} must be one of {available}, not {raw!r}")
    return name


def _forwarded_header(raw: Any, label: str) -> str:
    name = _text(raw, label).lower()
    if name not in FORWARDED_HEADERS:
        raise ConfigError(f"{label} must be one of {', '.join(FORWARDED_HEADERS)}, not {raw!r}")
    return name


_SERVICE_SETTINGS: dict[str, Callable[[Any, str], Any]] = {
    "database": _text,
    "gateway": _gateway,
    "mediariver_url": _optional_text,
    "mediariver_username": _optional_text,
    "mediariver_password": _secret,
    "mediariver_deadline": lambda raw, label: whole_number(raw, label, 1, 60),
    "host": _text,
    "port": lambda raw, label: whole_number(raw, label, 0, MAX_PORT),
    "threads": lambda raw, label: whole_number(raw, label, 1),
    "trusted_proxies": _networks,
    "forwarded_header": _forwarded_header,
    "max_body": lambda raw, label: whole_number(raw, label, 1),
}
_ENGINE_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(EngineConfig)}
_CODE_LENGTHS = ("min_code_length", "default_code_length")  # checked against each other

SETTING_KEYS: tuple[str, ...] = (*_SERVICE_SETTINGS, *_ENGINE_DEFAULTS)
"""Every key of the file (and, upper-cased with ``TFA_``, every variable) except ``tokens``."""


def variable_name(key: str) -> str:
    """The environment variable of a setting: ``code_ttl`` -> ``TFA_CODE_TTL``."""
    return ENV_PREFIX + key.upper()


def _engine_value(key: str, raw: Any, label: str) -> Any:
    default = _ENGINE_DEFAULTS[key]
    if isinstance(default, bool):
        return parse_bool(label, raw)
    if isinstance(default, RateLimit):
        try:
            return RateLimit.parse(raw if isinstance(raw, str) else repr(raw))
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    if isinstance(default, int):
        return whole_number(raw, label)
    if key in {"pepper", "callback_key", "dlr_secret"}:
        return _secret(raw, label)
    if key == "default_template":
        if not isinstance(raw, str):
            raise ConfigError(f"{label} must be a string, not {raw!r}")
        return raw  # kept as written: its spaces are part of the message
    value = _text(raw, label)
    if key == "argon2_profile" and value not in PROFILES:
        raise ConfigError(f"{label} must be one of {', '.join(sorted(PROFILES))}, not {raw!r}")
    if key == "default_sender_id" and not valid_sender_id(value):
        raise ConfigError(f"{label}: {value!r} is neither <= 15 digits nor <= 11 letters")
    return value


def _engine_config(raw: Mapping[str, tuple[Any, str]]) -> EngineConfig:
    values = {key: _engine_value(key, value, label) for key, (value, label) in raw.items()}
    if "min_code_length" in values and "default_code_length" not in values:
        # Raising the minimum above the default length raises the default with it.
        values["default_code_length"] = max(
            values["min_code_length"], _ENGINE_DEFAULTS["default_code_length"]
        )
    # Check each setting on its own first, so the error names the variable or key at fault.
    for key, (_, label) in raw.items():
        related = _CODE_LENGTHS if key in _CODE_LENGTHS else (key,)
        try:
            EngineConfig(**{k: values[k] for k in related if k in values})
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    return EngineConfig(**values)


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
    name = _text(entry["name"], f"name of {table}")

    def label(key: str) -> str:
        return f"{key} of token {name!r} (in {where})"

    token = _secret(entry["token"], label("token"))
    if token is None or not token.strip():
        raise ConfigError(f"{label('token')} must not be blank")
    sender_id = _optional_text(entry.get("sender_id"), label("sender_id"))
    if sender_id is not None and not valid_sender_id(sender_id):
        raise ConfigError(
            f"{label('sender_id')}: {sender_id!r} is neither <= 15 digits nor <= 11 letters"
        )
    ttl, attempts = entry.get("code_ttl"), entry.get("max_attempts")
    return DeclaredToken(
        name=name,
        token=token.strip(),
        # Entries are kept as written: one that does not parse is a warning and -66, not an error.
        allowed_ips=text_list(entry.get("allowed_ips", ()), label("allowed_ips")),
        sender_id=sender_id,
        code_ttl=None if ttl is None else whole_number(ttl, label("code_ttl"), 1, MAX_CODE_TTL),
        max_attempts=None if attempts is None else whole_number(attempts, label("max_attempts"), 1),
    )


def _declared_tokens(raw: Any, where: str) -> tuple[DeclaredToken, ...]:
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


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The top-level table of a TOML file; ConfigError when it is missing or not TOML."""
    try:
        with open(path, "rb") as file:
            data: dict[str, Any] = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(path)!r} not found") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {str(path)!r} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {str(path)!r} is not valid TOML: {exc}") from None
    return data


def load_settings(
    config_file: str | Path | None = None, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Read the TOML file (default: ``$TFA_CONFIG``, else none) then the ``TFA_*`` variables.

    Raises ConfigError naming the key or variable at fault: unknown file keys, values of the
    wrong type or out of range, a trusted proxy that is no IP/CIDR, an unavailable gateway.
    """
    if config_file is None and environ.get(CONFIG_VARIABLE, "").strip():
        config_file = environ[CONFIG_VARIABLE].strip()
    raw: dict[str, tuple[Any, str]] = {}
    tokens: tuple[DeclaredToken, ...] = ()
    if config_file is not None:
        where = str(config_file)
        for key, value in read_config_file(config_file).items():
            if key == "tokens":
                tokens = _declared_tokens(value, where)
            elif key in SETTING_KEYS:
                raw[key] = (value, f"{key} (in {where})")
            else:
                raise ConfigError(f"unknown setting {key!r} in {where}")
    for key in SETTING_KEYS:
        value = environ.get(variable_name(key), "")
        if value.strip():
            raw[key] = (value, variable_name(key))
    known = {variable_name(key) for key in SETTING_KEYS} | {CONFIG_VARIABLE}
    unknown = tuple(sorted(n for n in environ if n.startswith(ENV_PREFIX) and n not in known))

    service = {
        key: _SERVICE_SETTINGS[key](value, label)
        for key, (value, label) in raw.items()
        if key in _SERVICE_SETTINGS
    }
    engine = _engine_config({k: v for k, v in raw.items() if k in _ENGINE_DEFAULTS})
    return Settings(**service, engine=engine, tokens=tokens, unknown_variables=unknown)
