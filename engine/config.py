"""Engine settings: one frozen value built at the entry points and passed down.

:class:`EngineConfig` owns every rule of the engine's settings, with the rules that token
overrides share (a code's lifetime, attempts, a sender id, destinations: ``check_*``).
Loaders (a TOML file, environment variables, the command line) only turn text into values,
with :meth:`EngineConfig.from_mapping` and the converters here (``parse_bool``,
``whole_number``, ``text_list``, ``parse_network`` ...), and name the key at fault when a
rule refuses a value: :class:`ConfigError` carries the ``key`` it is about. The tokens a
configuration file declares are :class:`DeclaredToken` values; :data:`TOKEN_OPTIONS` says
what a token's options are and how each is read, stored and given on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ._access import (
    IPAddress,
    IPNetwork,
    invalid_allowlist_entries,
    parse_ip,
    parse_network,
)
from ._declared import DeclaredToken
from ._hashing import PROFILES
from ._token_options import TOKEN_OPTIONS, OptionFlag, TokenOption
from ._values import (
    MAX_CODE_TTL,
    ConfigError,
    RateLimit,
    check_code_ttl,
    check_destinations,
    check_max_attempts,
    check_sender_id,
    non_empty_text,
    parse_bool,
    secret_text,
    text_list,
    valid_sender_id,
    whole_number,
)

__all__ = [
    "DEFAULT_TEMPLATE", "MAX_CODE_LENGTH", "MAX_CODE_TTL", "PLACEHOLDER", "TOKEN_OPTIONS",
    "ConfigError", "DeclaredToken", "EngineConfig", "IPAddress", "IPNetwork", "OptionFlag",
    "RateLimit", "TokenOption", "check_code_ttl",
    "check_destinations", "check_max_attempts", "check_sender_id", "invalid_allowlist_entries",
    "non_empty_text", "parse_bool", "parse_ip", "parse_network", "secret_text", "text_list",
    "valid_sender_id", "whole_number",
]

MAX_CODE_LENGTH = 20
MIN_CODE_LENGTH_FLOOR = 4
PLACEHOLDER = "{#TFA_CODE}"
DEFAULT_TEMPLATE = "Your authentication code is: " + PLACEHOLDER
SECRET_FIELDS = frozenset({"pepper", "callback_key", "dlr_secret"})
MIN_KEY_BYTES = 16  # the least a pepper or callback key may have



@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine decides by. Defaults are the service's documented ones."""

    code_ttl: int = 300
    max_attempts: int = 5
    min_code_length: int = 6
    default_code_length: int = 6
    retention: int = 7 * 24 * 3600
    admin_audit_retention: int = 400 * 24 * 3600  # seconds administrative events are kept
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
    # Abuse controls (SMS pumping). Where any token may send: regions (GB) or E.164
    # prefixes (+4474); empty = anywhere. Each token may narrow it further.
    allowed_destinations: tuple[str, ...] = ()
    limit_token_sms: RateLimit = RateLimit(10000, 86400)  # per token, unless it has its own
    limit_service_sms: RateLimit | None = None  # for the whole service; None = no budget
    # The fraud guard holds sends to a number range (country code + 3 digits) of a token
    # when at least fraud_min_sends codes went there within fraud_window seconds and fewer
    # than fraud_min_conversion percent of them were validated; the hold lasts the window.
    fraud_guard: bool = True
    fraud_min_sends: int = 50
    fraud_window: int = 3600
    fraud_min_conversion: int = 10

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
        if _int(self, "admin_audit_retention") < 0:
            raise ConfigError("admin_audit_retention must not be negative",
                              key="admin_audit_retention")
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
        for name in ("rate_limits", "callback_allow_private", "fraud_guard"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false", key=name)
        for name in ("limit_phone_sends", "limit_token_requests", "limit_phone_failures",
                     "limit_token_sms"):
            if not isinstance(getattr(self, name), RateLimit):
                raise ConfigError(f"{name} must be a RateLimit", key=name)
        for name in SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name} must be a non-empty string", key=name)
        object.__setattr__(self, "allowed_destinations", check_destinations(
            self.allowed_destinations, "allowed_destinations"
        ))
        if self.limit_service_sms is not None and not isinstance(self.limit_service_sms,
                                                                 RateLimit):
            raise ConfigError("limit_service_sms must be a RateLimit or None",
                              key="limit_service_sms")
        if _int(self, "fraud_min_sends") < 1:
            raise ConfigError("fraud_min_sends must be at least 1", key="fraud_min_sends")
        if _int(self, "fraud_window") < 60:
            raise ConfigError("fraud_window must be at least 60 seconds", key="fraud_window")
        if not 1 <= _int(self, "fraud_min_conversion") <= 100:
            raise ConfigError("fraud_min_conversion must be 1..100 (percent)",
                              key="fraud_min_conversion")
        if not 5 <= _int(self, "callback_lease") <= 3600:
            raise ConfigError("callback_lease must be 5..3600 seconds", key="callback_lease")
        # Keys short enough to guess would undo what they protect: a pepper is what stops
        # a stolen database's codes from being brute-forced, and a stored fingerprint of it
        # (see tfa_engine.store.settle_pepper) must not be cheap to invert.
        for name in ("pepper", "callback_key"):
            value = getattr(self, name)
            if value is not None and len(value.encode()) < MIN_KEY_BYTES:
                raise ConfigError(f"{name} must have at least {MIN_KEY_BYTES} bytes", key=name)

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
    if key == "allowed_destinations":
        return text_list(raw, label)
    if key == "limit_service_sms":  # a budget, or "off"
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"off", "none"}):
            return None
        default = RateLimit(1, 1)
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
