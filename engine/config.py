"""Engine settings: one frozen value built at the entry points and passed down.

:class:`EngineConfig` owns every value rule of the engine's settings, and the few
functions below own the rules that token overrides share with it (a code's lifetime,
attempts, a sender id). Loaders (a TOML file, environment variables, the command line)
only turn text into values with :meth:`EngineConfig.from_mapping` and the converters
here, and name the key at fault when a rule refuses a value: :class:`ConfigError`
carries the ``key`` it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .hashing import PROFILES

MAX_CODE_TTL = 600  # a hard cap, whatever the engine or a token asks for
MAX_CODE_LENGTH = 20
MIN_CODE_LENGTH_FLOOR = 4
PLACEHOLDER = "{#TFA_CODE}"
DEFAULT_TEMPLATE = "Your authentication code is: " + PLACEHOLDER
SECRET_FIELDS = frozenset({"pepper", "callback_key", "dlr_secret"})

_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}", re.ASCII)
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}", re.ASCII)
_WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)  # int() also takes "１２", "١٢"


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


def _whole(value: Any, key: str, low: int, high: int | None, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, not {value!r}", key=key)
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{message}, not {value}", key=key)
    return value


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine decides by. Defaults are the service's documented ones."""

    code_ttl: int = 300
    max_attempts: int = 5
    min_code_length: int = 6
    default_code_length: int = 6
    retention: int = 7 * 24 * 3600
    argon2_profile: str = "owasp"
    pepper: str | None = field(default=None, repr=False)
    default_sender_id: str = "TFA"
    default_template: str = DEFAULT_TEMPLATE
    rate_limits: bool = True
    limit_phone_sends: RateLimit = RateLimit(5, 600)
    limit_token_requests: RateLimit = RateLimit(600, 60)
    limit_phone_failures: RateLimit = RateLimit(100, 3600)
    callback_allow_private: bool = False
    # Signs callbacks (each token's secret derives from it); falls back to the pepper.
    callback_key: str | None = field(default=None, repr=False)
    # The path secret of the delivery-report endpoint; None disables the endpoint.
    dlr_secret: str | None = field(default=None, repr=False)
    # Seconds a dispatcher holds the callbacks it claimed: another node (or this one after
    # a restart) delivers them once the lease ends if the first never reports back.
    callback_lease: int = 60

    def __post_init__(self) -> None:
        check_code_ttl(self.code_ttl)
        check_max_attempts(self.max_attempts)
        if not MIN_CODE_LENGTH_FLOOR <= _int(self, "min_code_length") <= MAX_CODE_LENGTH:
            raise ConfigError(
                f"min_code_length must be {MIN_CODE_LENGTH_FLOOR}..{MAX_CODE_LENGTH}",
                key="min_code_length",
            )
        if not self.min_code_length <= _int(self, "default_code_length") <= MAX_CODE_LENGTH:
            raise ConfigError(
                "default_code_length must lie between min_code_length and 20",
                key="default_code_length",
            )
        if _int(self, "retention") < 0:
            raise ConfigError("retention must not be negative", key="retention")
        if self.argon2_profile not in PROFILES:
            raise ConfigError(
                f"argon2_profile must be one of {', '.join(sorted(PROFILES))}, "
                f"not {self.argon2_profile!r}",
                key="argon2_profile",
            )
        check_sender_id(self.default_sender_id, "default_sender_id")
        if not isinstance(self.default_template, str) or PLACEHOLDER not in self.default_template:
            raise ConfigError(f"default_template must contain {PLACEHOLDER}",
                              key="default_template")
        for name in ("rate_limits", "callback_allow_private"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false", key=name)
        for name in ("limit_phone_sends", "limit_token_requests", "limit_phone_failures"):
            if not isinstance(getattr(self, name), RateLimit):
                raise ConfigError(f"{name} must be a RateLimit", key=name)
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name} must be a non-empty string", key=name)
        if not 5 <= _int(self, "callback_lease") <= 3600:
            raise ConfigError("callback_lease must be 5..3600 seconds", key="callback_lease")
        if self.callback_key is not None and len(self.callback_key.encode()) < 16:
            raise ConfigError("callback_key must have at least 16 bytes", key="callback_key")

    def with_changes(self, **changes: Any) -> EngineConfig:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], labels: Mapping[str, str] | None = None
    ) -> EngineConfig:
        """Build from plain values, as read from TOML or environment variables.

        Keys are the field names; text is converted (``"300"``, ``"off"``, ``"5/600"``).
        Unknown keys are an error, so a misspelt setting does not pass silently.
        ``labels`` says where each value came from (``TFA_CODE_TTL``); an error about a
        value starts with its label. Raising ``min_code_length`` above the default code
        length raises the default with it, unless that is set too.
        """
        labels = labels or {}
        known = {f.name: f.default for f in fields(cls)}
        converted: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"unknown engine setting {key!r}", key=key)
            label = labels.get(key, key)
            converted[key] = _convert(key, raw, known[key], label)
        if "min_code_length" in converted and "default_code_length" not in converted:
            converted["default_code_length"] = max(
                converted["min_code_length"], known["default_code_length"]
            )
        try:
            return cls(**converted)
        except ConfigError as exc:
            if exc.key is not None and exc.key in labels:
                raise exc.about(labels[exc.key]) from None
            raise


def _int(config: EngineConfig, name: str) -> int:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, not {value!r}", key=name)
    return value


def _convert(key: str, raw: Any, default: Any, label: str) -> Any:
    """The one conversion of a plain value to a setting's type (by its default's type)."""
    if isinstance(default, bool):
        return parse_bool(raw, label)
    if isinstance(default, RateLimit):
        try:
            return RateLimit.parse(raw)
        except ConfigError as exc:
            raise exc.about(label) from None
    if isinstance(default, int):
        return whole_number(raw, label)
    if raw is None:
        return None
    if key in SECRET_FIELDS:
        return secret_text(raw, label)  # exact, and never echoed in an error
    if not isinstance(raw, str):
        raise ConfigError(f"{label} must be a string, not {raw!r}")
    # A template is kept as written: its spaces are part of the message.
    return raw if key == "default_template" else raw.strip()
