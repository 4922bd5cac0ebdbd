"""The shapes a generic HTTP gateway speaks: body templates with placeholders, and dotted
paths into a provider's JSON answers and delivery reports.

A template is checked once, when the gateway is built, so a typo in a placeholder stops
the server at start-up instead of sending SMS with ``{recipent}`` in them. Placeholders
are replaced inside the decoded template and the body is serialised afterwards: a text
holding ``"`` or ``\\`` is a JSON string value like any other and cannot break out of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .._values import ConfigError

FORMATS = ("json", "form")
# What a message fills in; the credentials may be placed in a body too (Vonage wants its
# key and secret there), so that they stay in secret settings rather than in a template.
MESSAGE_PLACEHOLDERS = ("to", "to_digits", "text", "sender", "message_id")
CREDENTIAL_PLACEHOLDERS = ("username", "password", "token")
PLACEHOLDERS = MESSAGE_PLACEHOLDERS + CREDENTIAL_PLACEHOLDERS
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()


class BodyTemplate:
    """The body of each request: ``format`` ``json`` (any JSON value, placeholders in its
    strings) or ``form`` (field -> template); ``body`` as decoded (a TOML table) or as a
    JSON text (an environment variable). Raises ConfigError naming ``option``."""

    def __init__(self, format: str, body: Any, option: str = "body") -> None:
        if format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise ConfigError(f"{option} is not valid JSON: {exc}") from None
        if format == "form":
            if not isinstance(body, Mapping) or not body or not all(
                isinstance(value, (str, int, float)) and not isinstance(value, bool)
                for value in body.values()
            ):
                raise ConfigError(f"{option} of a form must be a table of field = text")
            body = {str(key): str(value) for key, value in body.items()}
        elif not isinstance(body, (Mapping, list)) or not body:
            raise ConfigError(f"{option} must be a JSON object or array")
        self.format = format
        self.content_type = (
            "application/json" if format == "json" else "application/x-www-form-urlencoded"
        )
        self._body = body
        self.placeholders = frozenset(
            name for text in _strings(body) for name in _PLACEHOLDER.findall(text)
        )
        unknown = sorted(self.placeholders - set(PLACEHOLDERS))
        if unknown:
            raise ConfigError(
                f"{option} has an unknown placeholder {{{unknown[0]}}} "
                f"(known: {', '.join('{' + name + '}' for name in PLACEHOLDERS)})"
            )

    def render(self, values: Mapping[str, str]) -> bytes:
        """The body with each placeholder replaced by its value from ``values``."""
        if self.format == "form":
            fields = {key: fill(text, values) for key, text in self._body.items()}
            return urlencode(fields).encode("ascii")
        filled = _fill_json(self._body, values)
        return json.dumps(filled, ensure_ascii=False).encode("utf-8")

    def empty(self) -> bytes:
        """A body naming no message: what a credentials check sends."""
        return b"{}" if self.format == "json" else b""


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{name}`` of ``values`` replaced (others left as written)."""
    return _PLACEHOLDER.sub(lambda found: values.get(found[1], found[0]), text)


def _fill_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, values)
    if isinstance(value, Mapping):
        return {key: _fill_json(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_json(item, values) for item in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass(frozen=True)
class FieldPath:
    """A dotted path into decoded JSON: ``sid``, ``messages.0.status``,
    ``messages.0.message-id``; a part ending in ``[]`` (``results[].messageId``) stands
    for every item of that array."""

    text: str

    def __post_init__(self) -> None:
        parts = self.text.split(".")
        if not self.text or any(not part or part == "[]" for part in parts):
            raise ConfigError(f"{self.text!r} is not a dotted path (like messages.0.status)")

    @property
    def parts(self) -> list[str]:
        """The path's steps."""
        return self.text.split(".")

    def one(self, data: Any) -> Any:
        """The value at the path (the first item where it iterates), or None."""
        found = self.every(data)
        return found[0] if found else None

    def every(self, data: Any) -> list[Any]:
        """Every value at the path: one at most, unless a part iterates an array."""
        current = [data]
        for part in self.parts:
            iterate = part.endswith("[]")
            name = part[:-2] if iterate else part
            step = [found for item in current
                    if (found := _child(item, name)) is not _MISSING]
            if iterate:
                step = [item for array in step if isinstance(array, list) for item in array]
            current = step
        return current


def _child(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name, _MISSING)
    if isinstance(value, list) and name.isdigit():
        index = int(name)
        return value[index] if index < len(value) else _MISSING
    return _MISSING


def scalar_text(value: Any) -> str | None:
    """A JSON string or number as text (``"0"`` and ``0`` alike); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None
