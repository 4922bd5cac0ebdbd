"""The ``http`` kind of gateway: its settings' converters and how one is built.

Its options are listed in :data:`~tfa_engine.adapters.server.gateway_kinds.KINDS` with
the other kinds'; what is particular to it (a body template given as a TOML table or as
JSON text, lists of statuses, a status map) is read here. The page
``docs/gateways/http.md`` tells an operator how to fill them in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tfa_engine.config import ConfigError, non_empty_text, text_list, whole_number
from tfa_engine.gateways import DELIVERY_STATUSES, Gateway, HttpGateway, HttpReports

CHOICES = {
    "method": ("POST", "PUT", "PATCH"),
    "auth": ("none", "basic", "bearer", "header"),
    "format": ("json", "form"),
}


def choice(option: str) -> Any:
    """A converter to one of the option's :data:`CHOICES` (methods in upper case)."""
    allowed = CHOICES[option]

    def convert(raw: Any, label: str) -> str:
        text = non_empty_text(raw, label)
        text = text.upper() if option == "method" else text.lower()
        if text not in allowed:
            raise ConfigError(f"{label} must be one of {', '.join(allowed)}, not {raw!r}")
        return text

    return convert


def body_template(raw: Any, label: str) -> Any:
    """A body template: a TOML table or array as it is, or a text holding JSON."""
    if isinstance(raw, (Mapping, list)):
        return raw
    text = non_empty_text(raw, label)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{label} is not valid JSON: {exc}") from None


def statuses(raw: Any, label: str) -> tuple[int, ...]:
    """HTTP statuses: a TOML array, or comma-separated text."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    items = raw if isinstance(raw, list) else text_list(raw, label)
    found = tuple(whole_number(item, label, 200, 299) for item in items)
    if not found:
        raise ConfigError(f"{label} must list at least one HTTP status")
    return found


def scalar(raw: Any, label: str) -> str:
    """A text, or a TOML number written as one (``accept_value = 0``)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{label} must be a non-empty string, not {raw!r}")
    return raw


def status_map(raw: Any, label: str) -> dict[str, str]:
    """provider status -> SMPP final state: a TOML table, or ``delivered=DELIVRD,...``."""
    if isinstance(raw, Mapping):
        pairs = [(str(key), value) for key, value in raw.items()]
    else:
        pairs = []
        for item in text_list(raw, label):
            key, equals, value = item.partition("=")
            if not equals:
                raise ConfigError(f"{label} must be provider_status=STATE pairs, not {item!r}")
            pairs.append((key.strip(), value.strip()))
    mapped: dict[str, str] = {}
    for key, value in pairs:
        state = str(value).upper()
        if not key or state not in DELIVERY_STATUSES:
            raise ConfigError(f"{label}: {key!r} must map to one of "
                              f"{', '.join(DELIVERY_STATUSES)}, not {value!r}")
        mapped[key] = state
    if not mapped:
        raise ConfigError(f"{label} must map at least one provider status")
    return mapped


def build_http(name: str, options: Mapping[str, Any]) -> Gateway:
    """The gateway ``options`` describe, named ``name``. Raises ConfigError naming the
    gateway and the option for settings that cannot work together."""
    try:
        http_reports(name, options)  # checked at start-up, not at the first report
        gateway = HttpGateway(
            options["url"], options["body"], method=options["method"],
            format=options["format"], auth=options["auth"], username=options["username"],
            password=options["password"], token=options["token"],
            auth_header=options["auth_header"], accept_status=options["accept_status"],
            accept_field=options["accept_field"], accept_value=options["accept_value"],
            id_field=options["id_field"], deadline=options["deadline"],
        )
    except ConfigError as exc:
        raise ConfigError(f"http gateway {name!r}: {exc}") from None
    gateway.name = name
    return gateway


def http_reports(name: str, options: Mapping[str, Any]) -> HttpReports | None:
    """How the delivery reports of the http gateway ``name`` read; None when it has no
    report settings. Raises ConfigError when only some of them are given."""
    keys = ("report_id_field", "report_status_field", "report_status_map")
    given = [key for key in keys if options.get(key) is not None]
    if not given:
        return None
    if len(given) < len(keys):
        missing = next(key for key in keys if key not in given)
        raise ConfigError(f"delivery reports need {missing} too (they need all of "
                          f"{', '.join(keys)})")
    return HttpReports(name, options["report_id_field"], options["report_status_field"],
                       options["report_status_map"])
