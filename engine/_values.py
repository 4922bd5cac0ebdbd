"""Setting values and their rules, shared by the engine's settings and each token's.

Converters turn text (or a TOML value) into a value, naming where it came from (``label``)
in their errors; the ``check_*`` functions own the rules a value must follow. Every way
in — direct import, a file, variables, the command line — passes through them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers

MAX_CODE_TTL = 600  # a hard cap, whatever the engine or a token asks for

_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}", re.ASCII)
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}", re.ASCII)
_WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)  # int() also takes "１２", "١٢"
_E164_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}", re.ASCII)


class ConfigError(ValueError):
    """A setting has a value the engine cannot run with.

    ``key`` names the setting (``code_ttl``), when the error is about one; loaders use it
    to name the variable, file key or flag the value came from.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def about(self, label: str) -> ConfigError:
        """The same error, its message prefixed with where the value came from."""
        return ConfigError(f"{label}: {self}", key=self.key)


# -- converters: text (or a TOML value) to a value; ``label`` names it in errors ----------
def parse_bool(raw: Any, label: str) -> bool:
    """Read ``true/false``, ``on/off``, ``yes/no``, ``1/0``."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "on", "yes"}:
        return True
    if text in {"0", "false", "off", "no"}:
        return False
    raise ConfigError(f"{label} must be true/false (or on/off), not {raw!r}")


def whole_number(raw: Any, label: str, low: int | None = None, high: int | None = None) -> int:
    """An integer from TOML or from text (ASCII digits only), optionally within bounds."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ConfigError(f"{label} must be a whole number, not {raw!r}")
    if isinstance(raw, str) and not _WHOLE_NUMBER.fullmatch(raw):
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


def non_empty_text(raw: Any, label: str) -> str:
    """A string with something in it, stripped."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{label} must be a non-empty string, not {raw!r}")
    return raw.strip()


def secret_text(raw: Any, label: str) -> str | None:
    """A secret as given (None stays None); its value never appears in an error."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{label} must be a non-empty string")
    return raw


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` events in any ``seconds`` long window."""

    count: int
    seconds: int

    def __post_init__(self) -> None:
        for name in ("count", "seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"rate limit {name} must be a whole number >= 1, not {value!r}")

    @classmethod
    def parse(cls, text: Any) -> RateLimit:
        """Read ``COUNT/SECONDS`` (e.g. ``5/600``)."""
        if isinstance(text, RateLimit):
            return text
        count, sep, seconds = str(text).partition("/")
        if not sep or not _WHOLE_NUMBER.fullmatch(count) or not _WHOLE_NUMBER.fullmatch(seconds):
            raise ConfigError(f"rate limit {text!r} is not COUNT/SECONDS")
        try:
            return cls(int(count), int(seconds))
        except ConfigError:
            raise ConfigError(
                f"rate limit {text!r} is not COUNT/SECONDS with both >= 1"
            ) from None

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


# -- rules shared by the engine's settings and each token's overrides ----------------------
def valid_sender_id(sender_id: str) -> bool:
    """Numeric (optional ``+``) up to 15 digits, or letters, digits and spaces up to 11."""
    return bool(
        _NUMERIC_SENDER.fullmatch(sender_id) or _ALPHANUMERIC_SENDER.fullmatch(sender_id)
    )


def check_sender_id(value: Any, key: str = "sender_id") -> str:
    """A sender id as the gateway takes it, else ConfigError."""
    if not isinstance(value, str) or not valid_sender_id(value):
        raise ConfigError(
            f"{key} {value!r} is neither <= 15 digits (optional +) nor <= 11 letters, "
            "digits and spaces",
            key=key,
        )
    return value


def check_code_ttl(value: Any, key: str = "code_ttl") -> int:
    """Seconds a code lives: 1 to :data:`MAX_CODE_TTL`."""
    return _whole(value, key, 1, MAX_CODE_TTL, f"{key} must be 1..{MAX_CODE_TTL} seconds")


def check_max_attempts(value: Any, key: str = "max_attempts") -> int:
    """Wrong tries before a code is dead: at least 1."""
    return _whole(value, key, 1, None, f"{key} must be at least 1")


def check_destinations(entries: Any, key: str = "allowed_destinations") -> tuple[str, ...]:
    """Destination allowlist entries: ISO 3166 region codes (``GB``, upper-cased), ``001``
    (the country calling codes of no country: satellite and international networks) or
    E.164 prefixes (``+4474``). A region matches the numbers libphonenumber places in it
    (``GB`` leaves out ``GG``, ``JE`` and ``IM``, which share +44)."""
    if isinstance(entries, str) or not isinstance(entries, (tuple, list)):
        raise ConfigError(f"{key} must be a list of regions or +prefixes", key=key)
    checked = []
    for entry in entries:
        text = str(entry).strip()
        if _E164_PREFIX.fullmatch(text):
            checked.append(text)
        elif (text.upper() in phonenumbers.SUPPORTED_REGIONS
              or text == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY):
            checked.append(text.upper())
        else:
            raise ConfigError(
                f"{key}: {text!r} is neither an ISO 3166 region code (GB) nor an E.164 "
                "prefix (+4474)",
                key=key,
            )
    return tuple(checked)


def _whole(value: Any, key: str, low: int, high: int | None, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, not {value!r}", key=key)
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{message}, not {value}", key=key)
    return value
