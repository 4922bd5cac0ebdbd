"""The gateways and routes of the settings: flat ``TFA_GATEWAY`` settings, or the file's
``[[gateways]]`` and ``[[routes]]`` tables, checked as they are read.

Flat form: ``TFA_GATEWAY=<kind>`` and the kind's options as ``TFA_<KIND>_<OPTION>``
(``mediariver_url`` in the file), giving one gateway named after its kind; mediariver may
add a fallback account (``TFA_MEDIARIVER_FALLBACK_URL``...), a second gateway named
``mediariver-fallback`` tried when the first fails. Tables::

    [[gateways]]
    name = "eu"
    type = "smpp"
    host = "smsc.example"
    ...

    [[routes]]
    destination = "+49"          # or a region code ("DE"), or "default"
    gateways = ["eu", "backup"]  # tried in this order

Without ``[[routes]]`` every gateway is tried in the order the file declares them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tfa_engine.config import ConfigError, non_empty_text
from tfa_engine.gateways import DEFAULT_ROUTE, Route

from .gateway_kinds import KINDS, GatewaySpec, gateway_spec

FALLBACK = "mediariver-fallback"  # the name of the flat form's second mediariver account
FALLBACK_OPTIONS = ("url", "username", "password")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# file key of each flat option -> (kind, option)
FLAT_KEYS: dict[str, tuple[str, str]] = {
    f"{kind}_{option}": (kind, option) for kind, spec in KINDS.items() for option in spec.options
}
FALLBACK_KEYS: dict[str, str] = {f"mediariver_fallback_{o}": o for o in FALLBACK_OPTIONS}

Raw = Mapping[str, tuple[Any, str]]  # file key -> (value, where it came from)


def flat_gateways(kind: str, raw: Raw, variable: Callable[[str], str]) -> tuple[GatewaySpec, ...]:
    """The gateway ``TFA_GATEWAY=kind`` and its flat options describe (and the mediariver
    fallback when one is given). ``variable(key)`` names a setting in errors."""
    options = {option: raw[key] for key, (k, option) in FLAT_KEYS.items()
               if k == kind and key in raw}
    specs = [gateway_spec(kind, kind, options, lambda o: variable(f"{kind}_{o}"))]
    given = [key for key in FALLBACK_KEYS if key in raw]
    if given and len(given) < len(FALLBACK_KEYS):
        lacking = ", ".join(variable(key) for key in FALLBACK_KEYS if key not in given)
        raise ConfigError(f"a mediariver fallback needs {lacking} too")
    if given:
        if kind != "mediariver":
            raise ConfigError(f"{variable(given[0])} is a mediariver fallback, but "
                              f"{variable('gateway')} is {kind}")
        fallback = {o: raw[key] for key, o in FALLBACK_KEYS.items()}
        if "deadline" in options:
            fallback["deadline"] = options["deadline"]
        specs.append(gateway_spec(FALLBACK, "mediariver", fallback,
                                  lambda o: variable(f"mediariver_fallback_{o}")))
    return tuple(specs)


def unused_flat_keys(kind: str | None, raw: Raw) -> list[str]:
    """The flat options given for a kind of gateway not in use (worth a warning)."""
    return [key for key, (k, _) in FLAT_KEYS.items() if key in raw and k != kind]


def table_gateways(raw: Any, where: str) -> tuple[GatewaySpec, ...]:
    """The ``[[gateways]]`` tables of the file ``where``."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"gateways (in {where}) must be an array of tables ([[gateways]])")
    specs = []
    for number, entry in enumerate(raw, start=1):
        table = f"gateways[{number}] (in {where})"
        if not isinstance(entry, dict):
            raise ConfigError(f"{table} must be a table ([[gateways]])")
        for required in ("name", "type"):
            if required not in entry:
                raise ConfigError(f"{table} needs a {required!r}")
        name = non_empty_text(entry["name"], f"name of {table}")
        if not NAME.fullmatch(name):
            raise ConfigError(f"name of {table}: {name!r} must be 1 to 32 lower-case letters, "
                              "digits, '-' or '_'")
        kind = non_empty_text(entry["type"], f"type of gateway {name!r} (in {where})").lower()
        options = {key: (value, f"{key} of gateway {name!r} (in {where})")
                   for key, value in entry.items() if key not in ("name", "type")}
        specs.append(gateway_spec(name, kind, options, _option_label(name, where)))
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"gateway {name!r} is declared more than once in {where}")
    return tuple(specs)


def _option_label(name: str, where: str) -> Callable[[str], str]:
    """How errors name an option of the gateway table ``name``."""
    return lambda option: f"{option} of gateway {name!r} (in {where})"


def table_routes(raw: Any, where: str, names: list[str]) -> tuple[Route, ...]:
    """The ``[[routes]]`` tables of the file ``where``, over the gateways ``names``."""
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"routes (in {where}) must be an array of tables ([[routes]])")
    routes = []
    for number, entry in enumerate(raw, start=1):
        table = f"routes[{number}] (in {where})"
        if not isinstance(entry, dict) or set(entry) != {"destination", "gateways"}:
            raise ConfigError(f"{table} must be a table of destination and gateways")
        destination = non_empty_text(entry["destination"], f"destination of {table}")
        gateways = entry["gateways"]
        if not isinstance(gateways, list) or not all(isinstance(g, str) for g in gateways):
            raise ConfigError(f"gateways of {table} must be a list of gateway names")
        unknown = [g for g in gateways if g not in names]
        if unknown:
            raise ConfigError(f"{table}: no gateway is named {unknown[0]!r} "
                              f"(declared: {', '.join(names)})")
        try:
            routes.append(Route(destination, tuple(gateways)))
        except ValueError as exc:
            raise ConfigError(f"{table}: {exc}") from None
    destinations = [route.destination for route in routes]
    for destination in destinations:
        if destinations.count(destination) > 1:
            raise ConfigError(f"two routes (in {where}) are for {destination}")
    if DEFAULT_ROUTE not in destinations:
        raise ConfigError(f"routes (in {where}) need a route for destination = \"default\"")
    return tuple(routes)


def default_routes(specs: tuple[GatewaySpec, ...]) -> tuple[Route, ...]:
    """Every gateway, in the order given, for every destination."""
    return (Route(DEFAULT_ROUTE, tuple(spec.name for spec in specs)),)
