"""Engine settings: defaults, validation, conversion from plain values, rate limits."""

from __future__ import annotations

from typing import Any

import pytest

from tfa_engine.config import ConfigError, EngineConfig, RateLimit


def test_defaults_are_the_specs() -> None:
    """The documented defaults: 300 s, 5 tries, 6 digits, 7 days, 5/600, 600/60, 100/3600."""
    config = EngineConfig()
    assert (config.code_ttl, config.max_attempts) == (300, 5)
    assert (config.min_code_length, config.default_code_length) == (6, 6)
    assert config.retention == 7 * 24 * 3600
    assert config.limit_phone_sends == RateLimit(5, 600)
    assert config.limit_token_requests == RateLimit(600, 60)
    assert config.limit_phone_failures == RateLimit(100, 3600)
    assert config.rate_limits is True
    assert config.argon2_profile == "owasp"
    assert config.default_template == "Your authentication code is: {#TFA_CODE}"
    assert config.callback_allow_private is False


def test_config_is_frozen() -> None:
    """Settings cannot be changed in place."""
    config = EngineConfig()
    with pytest.raises(AttributeError):
        config.code_ttl = 10  # type: ignore[misc]


def test_pepper_is_not_in_the_repr() -> None:
    """The pepper does not appear in the config's repr."""
    assert "s3cret-pepper-0123" not in repr(EngineConfig(pepper="s3cret-pepper-0123"))


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"code_ttl": 601}, id="ttl-above-cap"),
        pytest.param({"code_ttl": 0}, id="ttl-zero"),
        pytest.param({"max_attempts": 0}, id="no-attempts"),
        pytest.param({"min_code_length": 3}, id="min-length-below-4"),
        pytest.param({"min_code_length": 21}, id="min-length-above-20"),
        pytest.param({"default_code_length": 5}, id="default-below-min"),
        pytest.param({"default_code_length": 21}, id="default-above-20"),
        pytest.param({"retention": -1}, id="negative-retention"),
        pytest.param({"default_template": "no placeholder"}, id="template-without-placeholder"),
    ],
)
def test_invalid_settings_raise_config_error(changes: dict[str, Any]) -> None:
    """A setting the engine cannot run with raises ConfigError."""
    with pytest.raises(ConfigError):
        EngineConfig(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"code_ttl": 600}, id="ttl-at-cap"),
        pytest.param({"code_ttl": 1}, id="ttl-1"),
        pytest.param({"min_code_length": 4, "default_code_length": 4}, id="length-4"),
        pytest.param({"default_code_length": 20}, id="default-20"),
        pytest.param({"retention": 0}, id="no-retention"),
    ],
)
def test_boundary_settings_are_accepted(changes: dict[str, Any]) -> None:
    """Settings at the edge of their range are accepted."""
    config = EngineConfig(**changes)
    assert all(getattr(config, key) == value for key, value in changes.items())


def test_config_error_is_a_value_error() -> None:
    """ConfigError can be caught as ValueError."""
    assert issubclass(ConfigError, ValueError)


def test_with_changes_validates_again() -> None:
    """with_changes returns a validated copy and leaves the original alone."""
    config = EngineConfig()
    assert config.with_changes(code_ttl=60).code_ttl == 60
    assert config.code_ttl == 300
    with pytest.raises(ConfigError):
        config.with_changes(code_ttl=601)


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        pytest.param({"code_ttl": "120"}, "code_ttl", 120, id="int-from-string"),
        pytest.param({"code_ttl": 120}, "code_ttl", 120, id="int"),
        pytest.param({"max_attempts": " 3 "}, "max_attempts", 3, id="int-with-spaces"),
        pytest.param({"rate_limits": "off"}, "rate_limits", False, id="off"),
        pytest.param({"rate_limits": "ON"}, "rate_limits", True, id="on"),
        pytest.param({"rate_limits": "no"}, "rate_limits", False, id="no"),
        pytest.param({"rate_limits": "1"}, "rate_limits", True, id="one"),
        pytest.param({"rate_limits": False}, "rate_limits", False, id="bool"),
        pytest.param({"callback_allow_private": "true"}, "callback_allow_private", True, id="true"),
        pytest.param(
            {"limit_phone_sends": "3/60"}, "limit_phone_sends", RateLimit(3, 60), id="limit"
        ),
        pytest.param(
            {"limit_token_requests": RateLimit(9, 9)},
            "limit_token_requests",
            RateLimit(9, 9),
            id="limit-object",
        ),
        pytest.param({"pepper": "p" * 16}, "pepper", "p" * 16, id="pepper"),
        pytest.param({"pepper": None}, "pepper", None, id="pepper-none"),
        pytest.param({"default_sender_id": "Acme"}, "default_sender_id", "Acme", id="sender"),
        pytest.param({"argon2_profile": "test"}, "argon2_profile", "test", id="profile"),
    ],
)
def test_from_mapping_converts(values: dict[str, Any], field: str, expected: Any) -> None:
    """Plain values (as from TOML or the environment) become typed settings."""
    assert getattr(EngineConfig.from_mapping(values), field) == expected


def test_from_mapping_empty_gives_defaults() -> None:
    """An empty mapping gives the default settings."""
    assert EngineConfig.from_mapping({}) == EngineConfig()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"code_tll": "300"}, "unknown", id="misspelt-key"),
        pytest.param({"code_ttl": "five"}, "whole number", id="not-a-number"),
        pytest.param({"code_ttl": None}, "whole number", id="none-for-int"),
        pytest.param({"code_ttl": "601"}, "code_ttl", id="above-cap"),
        pytest.param({"rate_limits": "maybe"}, "true/false", id="not-a-bool"),
        pytest.param({"limit_phone_sends": "5"}, "COUNT/SECONDS", id="limit-without-slash"),
        pytest.param({"limit_phone_failures": "0/60"}, "COUNT/SECONDS", id="limit-zero"),
    ],
)
def test_from_mapping_errors(values: dict[str, Any], message: str) -> None:
    """Unknown keys and unconvertible values raise ConfigError saying what is wrong."""
    with pytest.raises(ConfigError, match=message):
        EngineConfig.from_mapping(values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("5/600", RateLimit(5, 600), id="phone-sends"),
        pytest.param("600/60", RateLimit(600, 60), id="token-requests"),
        pytest.param(" 1 / 1 ", RateLimit(1, 1), id="spaces"),
    ],
)
def test_rate_limit_parse(text: str, expected: RateLimit) -> None:
    """COUNT/SECONDS parses to a RateLimit."""
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["5", "5/", "/600", "a/b", "0/600", "5/0", "-1/600", "5/-1", "5/600/1", "", "5.5/600"],
)
def test_rate_limit_parse_errors(text: str) -> None:
    """Anything but two whole numbers >= 1 around a slash is a ConfigError."""
    with pytest.raises(ConfigError):
        RateLimit.parse(text)


def test_rate_limit_str_round_trips() -> None:
    """A RateLimit prints as COUNT/SECONDS, which parses back to it."""
    limit = RateLimit(100, 3600)
    assert str(limit) == "100/3600"
    assert RateLimit.parse(str(limit)) == limit


@pytest.mark.parametrize(
    "sender", ["A" * 22, "Shop!", "+1234567890123456", ""], ids=["22-letters", "punctuation",
                                                               "16-digits", "empty"],
)
def test_engine_config_refuses_a_sender_id_the_gateway_would_not_take(sender: str) -> None:
    """The default sender follows the same rule however the config is built (direct import
    included), and the error names the setting."""
    with pytest.raises(ConfigError) as raised:
        EngineConfig(default_sender_id=sender)
    assert raised.value.key == "default_sender_id"
