"""Engine settings: one frozen value built at the entry points and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

MAX_CODE_TTL = 600  # SPEC 2.4: a hard cap, whatever the engine or a token asks for
MAX_CODE_LENGTH = 20
MIN_CODE_LENGTH_FLOOR = 4
PLACEHOLDER = "{#TFA_CODE}"
DEFAULT_TEMPLATE = "Your authentication code is: " + PLACEHOLDER


class ConfigError(ValueError):
    """A setting has a value the engine cannot run with."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` events per ``seconds`` (a fixed window)."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read ``COUNT/SECONDS`` (e.g. ``5/600``)."""
        count, sep, seconds = str(text).partition("/")
        try:
            limit = cls(int(count), int(seconds))
        except ValueError:
            raise ConfigError(f"rate limit {text!r} is not COUNT/SECONDS") from None
        if not sep or limit.count < 1 or limit.seconds < 1:
            raise ConfigError(f"rate limit {text!r} is not COUNT/SECONDS with both >= 1")
        return limit

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}"


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine decides by. Defaults are SPEC 2.4's."""

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

    def __post_init__(self) -> None:
        if not 1 <= self.code_ttl <= MAX_CODE_TTL:
            raise ConfigError(f"code_ttl must be 1..{MAX_CODE_TTL} seconds, not {self.code_ttl}")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if not MIN_CODE_LENGTH_FLOOR <= self.min_code_length <= MAX_CODE_LENGTH:
            raise ConfigError(
                f"min_code_length must be {MIN_CODE_LENGTH_FLOOR}..{MAX_CODE_LENGTH}"
            )
        if not self.min_code_length <= self.default_code_length <= MAX_CODE_LENGTH:
            raise ConfigError("default_code_length must lie between min_code_length and 20")
        if self.retention < 0:
            raise ConfigError("retention must not be negative")
        if self.callback_key is not None and len(self.callback_key.encode()) < 16:
            raise ConfigError("callback_key must have at least 16 bytes")
        if PLACEHOLDER not in self.default_template:
            raise ConfigError(f"default_template must contain {PLACEHOLDER}")

    def with_changes(self, **changes: Any) -> EngineConfig:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EngineConfig:
        """Build from plain values, as read from TOML or environment variables.

        Keys are the field names; strings are converted (``"300"``, ``"off"``, ``"5/600"``).
        Unknown keys are an error, so a misspelt setting does not pass silently.
        """
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(f"unknown engine setting {key!r}")
            default = known[key].default
            kwargs[key] = _convert(key, raw, default)
        return cls(**kwargs)


def _convert(key: str, raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        return parse_bool(key, raw)
    if isinstance(default, RateLimit):
        return raw if isinstance(raw, RateLimit) else RateLimit.parse(raw)
    if isinstance(default, int):
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ConfigError(f"{key} must be a whole number, not {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    if raw is None:
        return None
    return str(raw)


def parse_bool(key: str, raw: Any) -> bool:
    """Read ``true/false``, ``on/off``, ``yes/no``, ``1/0``."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "on", "yes"}:
        return True
    if text in {"0", "false", "off", "no"}:
        return False
    raise ConfigError(f"{key} must be true/false (or on/off), not {raw!r}")
