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
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tfa_engine import catalogue
from tfa_engine.config import (
    ConfigError,
    DeclaredToken,
    EngineConfig,
    RateLimit,
    invalid_allowlist_entries,
    non_empty_text,
    parse_bool,
    text_list,
    whole_number,
)
from tfa_engine.gateways import Route
from tfa_engine.store import is_postgres, location_problem

from .declared import declared_tokens
from .gateway_kinds import KINDS, GatewaySpec
from .gateway_tables import (
    FALLBACK_KEYS,
    FLAT_KEYS,
    default_routes,
    flat_gateways,
    table_gateways,
    table_routes,
    unused_flat_keys,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published separately before 3.11
    tomllib: Any = importlib.import_module("tomli")

ENV_PREFIX = "TFA_"
CONFIG_VARIABLE = "TFA_CONFIG"  # where to find the file when no path is given
GATEWAYS = tuple(KINDS)
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded")
SYNCHRONOUS = ("full", "normal")  # SQLite's synchronous modes a service may run with
MAX_PORT = 65535


@dataclass(frozen=True)
class Settings:
    """Everything ``tfa`` runs by: the service's own settings plus the engine's."""

    database: str = "./tfa.db"
    # The kind of the one gateway of the flat settings (TFA_GATEWAY); [[gateways]] tables
    # name several instead.
    gateway: str = "console"
    # Every gateway, named, with its options: the flat settings' (one, or two with a
    # mediariver fallback) or the file's tables. Empty: the one ``gateway`` names.
    gateways: tuple[GatewaySpec, ...] = ()
    # Which gateways each destination goes through; empty: all of them, in order.
    routes: tuple[Route, ...] = ()
    route_deadline: int = 10  # seconds one send may take through every gateway of its route
    # FAILURES/SECONDS: after that many failed sends in a row, fail fast for that long.
    gateway_breaker: str = "5/30"
    # Server threads that may wait on the gateway at once; None: half of ``threads``.
    gateway_slots: int | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 32
    workers: int = 1  # server processes sharing the listening socket
    connection_limit: int = 1000  # open connections waitress keeps; more wait to be accepted
    channel_timeout: int = 30  # seconds a connection has to send each whole request
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: str = "x-forwarded-for"
    max_body: int = 16384
    log_format: str = "text"  # or "json": one object per line for every log record
    metrics: bool = True  # GET /metrics (Prometheus)
    access_log: bool = True  # one log record per request (logger tfa.access)
    sqlite_synchronous: str = "full"  # "normal" trades a power cut's last commits for speed
    engine: EngineConfig = field(default_factory=EngineConfig)
    tokens: tuple[DeclaredToken, ...] = ()
    unknown_variables: tuple[str, ...] = ()  # TFA_* variables that are no setting
    unused_settings: tuple[str, ...] = ()  # options of a kind of gateway not in use

    def __post_init__(self) -> None:
        # The same checks as the loader's, so replace() and direct construction are safe too.
        for name, convert in _SERVICE_SETTINGS.items():
            object.__setattr__(self, name, convert(getattr(self, name), name))
        if not self.gateways:
            object.__setattr__(self, "gateways", flat_gateways(self.gateway, {}, variable_name))
        if not self.routes:
            object.__setattr__(self, "routes", default_routes(self.gateways))

    @property
    def remote_gateways(self) -> bool:
        """True when a send may wait on the network (a gateway other than console or
        memory): the sends are then bounded by a bulkhead."""
        return any(spec.remote for spec in self.gateways)

    def shared_secret_problem(self) -> str | None:
        """Why the service may not start without a shared signing key, or None: several
        processes (workers, or nodes on one PostgreSQL) must sign callbacks alike, and
        without ``TFA_CALLBACK_KEY`` or ``TFA_PEPPER`` each would use a random key of its
        own, so clients could verify the callbacks of one process only."""
        if self.engine.callback_key or self.engine.pepper:
            return None
        if self.workers > 1:
            why = f"{self.workers} workers"
        elif is_postgres(self.database):
            why = "a PostgreSQL database (which several servers may share)"
        else:
            return None
        return (
            f"with {why}, set TFA_CALLBACK_KEY (or TFA_PEPPER), the same on every process: "
            "without it each process signs callbacks with a random key of its own, which "
            "no client can verify"
        )

    @property
    def gateway_slots_in_effect(self) -> int:
        """How many sends may wait on the gateway at once: ``gateway_slots``, else half the
        threads (at least one), so that validations always have threads left."""
        return self.gateway_slots or max(1, self.threads // 2)

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
        ignored += [f"{name} is set, but no gateway of its kind is in use; ignored"
                    for name in self.unused_settings]
        return self.token_warnings() + self.slot_warnings() + ignored

    def slot_warnings(self) -> list[str]:
        """A line when the gateway may hold every server thread."""
        if self.gateway_slots is None or self.gateway_slots < self.threads:
            return []
        return [
            f"TFA_GATEWAY_SLOTS ({self.gateway_slots}) is not below TFA_THREADS "
            f"({self.threads}): a stalled gateway can hold every thread, and validations "
            "then wait for it"
        ]


# -- converters: (raw value, label naming where it came from) -> checked value ------------
def _networks(raw: Any, label: str) -> tuple[str, ...]:
    entries = text_list(raw, label)
    bad = invalid_allowlist_entries(entries)
    if bad:
        raise ConfigError(f"{label}: {bad[0]!r} is not an IP address or CIDR network")
    return entries


def _breaker(raw: Any, label: str) -> str:
    text = non_empty_text(raw, label).lower()
    if text == "off":
        return text
    try:
        RateLimit.parse(text)
    except ConfigError:
        raise ConfigError(f"{label} must be FAILURES/SECONDS (e.g. 5/30) or off") from None
    return text


def _choice(raw: Any, label: str, allowed: tuple[str, ...]) -> str:
    value = non_empty_text(raw, label).lower()
    if value not in allowed:
        raise ConfigError(f"{label} must be one of {', '.join(allowed)}, not {raw!r}")
    return value


def _gateway(raw: Any, label: str) -> str:
    name = non_empty_text(raw, label).lower()
    available = ", ".join(GATEWAYS)
    if name not in GATEWAYS:
        raise ConfigError(f"{label} must be one of {available}, not {raw!r}")
    return name


def _database(raw: Any, label: str) -> str:
    location = non_empty_text(raw, label)
    problem = location_problem(location)
    if problem is not None:
        raise ConfigError(f"{label}: {problem}")
    return location


def _forwarded_header(raw: Any, label: str) -> str:
    name = non_empty_text(raw, label).lower()
    if name not in FORWARDED_HEADERS:
        raise ConfigError(f"{label} must be one of {', '.join(FORWARDED_HEADERS)}, not {raw!r}")
    return name


_SERVICE_SETTINGS: dict[str, Callable[[Any, str], Any]] = {
    "database": _database,
    "gateway": _gateway,
    "route_deadline": lambda raw, label: whole_number(raw, label, 1, 120),
    "gateway_breaker": lambda raw, label: _breaker(raw, label),
    "gateway_slots": lambda raw, label: None if raw is None else whole_number(raw, label, 1),
    "host": non_empty_text,
    "port": lambda raw, label: whole_number(raw, label, 0, MAX_PORT),
    "threads": lambda raw, label: whole_number(raw, label, 1),
    "workers": lambda raw, label: whole_number(raw, label, 1, 64),
    "connection_limit": lambda raw, label: whole_number(raw, label, 1, 100_000),
    "channel_timeout": lambda raw, label: whole_number(raw, label, 1, 3600),
    "trusted_proxies": _networks,
    "forwarded_header": _forwarded_header,
    "max_body": lambda raw, label: whole_number(raw, label, 1),
    "sqlite_synchronous": lambda raw, label: _choice(raw, label, SYNCHRONOUS),
    "log_format": lambda raw, label: _choice(raw, label, ("text", "json")),
    "metrics": parse_bool,
    "access_log": parse_bool,
}
_ENGINE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(EngineConfig))

_GATEWAY_KEYS: tuple[str, ...] = (*FLAT_KEYS, *FALLBACK_KEYS)
SETTING_KEYS: tuple[str, ...] = (*_SERVICE_SETTINGS, *_GATEWAY_KEYS, *_ENGINE_KEYS)
"""Every key of the file (and, upper-cased with ``TFA_``, every variable) except the
tables (``tokens``, ``gateways``, ``routes``)."""


def variable_name(key: str) -> str:
    """The environment variable of a setting: ``code_ttl`` -> ``TFA_CODE_TTL``."""
    return ENV_PREFIX + key.upper()


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
    tables: dict[str, Any] = {}
    where = str(config_file)
    if config_file is not None:
        for key, value in read_config_file(config_file).items():
            if key == "tokens":
                tokens = declared_tokens(value, where)
            elif key in ("gateways", "routes"):
                tables[key] = value
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
    engine_keys = [key for key in raw if key in _ENGINE_KEYS]
    engine = EngineConfig.from_mapping(
        {key: raw[key][0] for key in engine_keys}, {key: raw[key][1] for key in engine_keys}
    )
    gateways, routes, unused = _gateways(raw, tables, where, service.get("gateway"))
    return Settings(**service, engine=engine, tokens=tokens, unknown_variables=unknown,
                    gateways=gateways, routes=routes, unused_settings=unused)


def _gateways(raw: Mapping[str, tuple[Any, str]], tables: Mapping[str, Any], where: str,
              kind: str | None) -> tuple[tuple[GatewaySpec, ...], tuple[Route, ...],
                                         tuple[str, ...]]:
    """The gateways and routes of the flat settings or of the file's tables, and the
    gateway settings that go unused (each checked all the same)."""
    gateway_raw = {key: raw[key] for key in _GATEWAY_KEYS if key in raw}
    if "gateways" in tables:
        if kind is not None:
            raise ConfigError(f"{raw['gateway'][1]} and [[gateways]] (in {where}) both "
                              "choose the gateway: keep one")
        gateways = table_gateways(tables["gateways"], where)
        names = [spec.name for spec in gateways]
        routes = (table_routes(tables["routes"], where, names) if "routes" in tables
                  else default_routes(gateways))
        in_use = None
    else:
        if "routes" in tables:
            raise ConfigError(f"[[routes]] (in {where}) need [[gateways]] tables to route to")
        in_use = kind or Settings.gateway
        gateways = flat_gateways(in_use, gateway_raw, variable_name)
        routes = default_routes(gateways)
    unused = unused_flat_keys(in_use, gateway_raw)
    for key in unused:  # wrong values are errors even where unused
        kind_of, option = FLAT_KEYS[key]
        KINDS[kind_of].options[option].convert(*gateway_raw[key])
    if in_use is None and any(key in gateway_raw for key in FALLBACK_KEYS):
        unused += [key for key in FALLBACK_KEYS if key in gateway_raw]
    return gateways, routes, tuple(variable_name(key) for key in unused)
