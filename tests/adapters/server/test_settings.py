"""Settings from a TOML file and TFA_* variables, and the engine built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tfa_engine import EngineConfig, MemoryGateway, RateLimit, catalogue
from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import DeclaredToken, Settings, load_settings
from tfa_engine.config import ConfigError
from tfa_engine.gateways import (
    Bulkhead,
    CircuitBreaker,
    MediariverGateway,
    RoutedGateway,
    SmsMessage,
)
from tfa_engine.store import StoreError

UK_MOBILE = "+447911123456"
SHOP_TOKEN = "8f6b2c9e-0d6a-4a37-9a51-0c7f5d3e2b11"
ADMIN_TOKEN = "1d3c5b7a-9e8f-4a6b-8c2d-0e1f2a3b4c5d"


def write_config(tmp_path: Path, text: str) -> Path:
    """A TOML file holding ``text``."""
    path = tmp_path / "tfa.toml"
    path.write_text(text, encoding="utf-8")
    return path


def toml_value(value: str) -> str:
    """``value`` as a TOML basic string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


Getter = Callable[[Settings], Any]

# (variable, value as text, what it sets, the value expected there)
EVERY_SETTING = [
    pytest.param("TFA_DATABASE", "/var/lib/tfa/tfa.db", lambda s: s.database,
                 "/var/lib/tfa/tfa.db", id="database"),
    pytest.param("TFA_GATEWAY", "memory", lambda s: s.gateway, "memory", id="gateway"),
    pytest.param("TFA_DLR_SECRET", "dlr-secret", lambda s: s.engine.dlr_secret, "dlr-secret",
                 id="dlr_secret"),
    pytest.param("TFA_PEPPER", "pepper!-16-bytes", lambda s: s.engine.pepper, "pepper!-16-bytes",
                 id="pepper"),
    pytest.param("TFA_ARGON2_PROFILE", "test", lambda s: s.engine.argon2_profile, "test",
                 id="argon2_profile"),
    pytest.param("TFA_CODE_TTL", "120", lambda s: s.engine.code_ttl, 120, id="code_ttl"),
    pytest.param("TFA_MAX_ATTEMPTS", "3", lambda s: s.engine.max_attempts, 3,
                 id="max_attempts"),
    pytest.param("TFA_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16", lambda s: s.trusted_proxies,
                 ("10.0.0.1", "192.168.0.0/16"), id="trusted_proxies"),
    pytest.param("TFA_CALLBACK_ALLOW_PRIVATE", "true",
                 lambda s: s.engine.callback_allow_private, True, id="callback_allow_private"),
    pytest.param("TFA_RATE_LIMITS", "off", lambda s: s.engine.rate_limits, False,
                 id="rate_limits"),
    pytest.param("TFA_LIMIT_PHONE_SENDS", "3/60", lambda s: s.engine.limit_phone_sends,
                 RateLimit(3, 60), id="limit_phone_sends"),
    pytest.param("TFA_LIMIT_TOKEN_REQUESTS", "100/10",
                 lambda s: s.engine.limit_token_requests, RateLimit(100, 10),
                 id="limit_token_requests"),
    pytest.param("TFA_LIMIT_PHONE_FAILURES", "20/600",
                 lambda s: s.engine.limit_phone_failures, RateLimit(20, 600),
                 id="limit_phone_failures"),
    pytest.param("TFA_MIN_CODE_LENGTH", "4", lambda s: s.engine.min_code_length, 4,
                 id="min_code_length"),
    pytest.param("TFA_DEFAULT_CODE_LENGTH", "8", lambda s: s.engine.default_code_length, 8,
                 id="default_code_length"),
    pytest.param("TFA_RETENTION", "3600", lambda s: s.engine.retention, 3600, id="retention"),
    pytest.param("TFA_ADMIN_AUDIT_RETENTION", "86400", lambda s: s.engine.admin_audit_retention,
                 86400, id="admin_audit_retention"),
    pytest.param("TFA_DEFAULT_SENDER_ID", "Acme", lambda s: s.engine.default_sender_id, "Acme",
                 id="default_sender_id"),
    pytest.param("TFA_DEFAULT_TEMPLATE", "Code: {#TFA_CODE}",
                 lambda s: s.engine.default_template, "Code: {#TFA_CODE}",
                 id="default_template"),
    pytest.param("TFA_HOST", "0.0.0.0", lambda s: s.host, "0.0.0.0", id="host"),
    pytest.param("TFA_PORT", "9000", lambda s: s.port, 9000, id="port"),
    pytest.param("TFA_THREADS", "8", lambda s: s.threads, 8, id="threads"),
    pytest.param("TFA_GATEWAY_SLOTS", "12", lambda s: s.gateway_slots_in_effect, 12,
                 id="gateway_slots"),
    pytest.param("TFA_MAX_BODY", "4096", lambda s: s.max_body, 4096, id="max_body"),
    pytest.param("TFA_CONNECTION_LIMIT", "2000", lambda s: s.connection_limit, 2000,
                 id="connection_limit"),
    pytest.param("TFA_CHANNEL_TIMEOUT", "10", lambda s: s.channel_timeout, 10,
                 id="channel_timeout"),
    pytest.param("TFA_FORWARDED_HEADER", "Forwarded", lambda s: s.forwarded_header,
                 "forwarded", id="forwarded_header"),
]

# (variable, a value it must refuse)
BAD_VALUES = [
    pytest.param("TFA_PORT", "http", id="port-not-a-number"),
    pytest.param("TFA_PORT", "70000", id="port-too-high"),
    pytest.param("TFA_PORT", "８０８０", id="port-non-ascii-digits"),
    pytest.param("TFA_THREADS", "0", id="threads-zero"),
    pytest.param("TFA_GATEWAY_SLOTS", "0", id="gateway_slots-zero"),
    pytest.param("TFA_GATEWAY_SLOTS", "half", id="gateway_slots-not-a-number"),
    pytest.param("TFA_MAX_BODY", "-1", id="max_body-negative"),
    pytest.param("TFA_CONNECTION_LIMIT", "0", id="connection_limit-zero"),
    pytest.param("TFA_CHANNEL_TIMEOUT", "0", id="channel_timeout-zero"),
    pytest.param("TFA_CHANNEL_TIMEOUT", "1h", id="channel_timeout-not-a-number"),
    pytest.param("TFA_CODE_TTL", "900", id="code_ttl-above-cap"),
    pytest.param("TFA_CODE_TTL", "5m", id="code_ttl-not-a-number"),
    pytest.param("TFA_MAX_ATTEMPTS", "0", id="max_attempts-zero"),
    pytest.param("TFA_MIN_CODE_LENGTH", "3", id="min_code_length-below-4"),
    pytest.param("TFA_DEFAULT_CODE_LENGTH", "21", id="default_code_length-above-20"),
    pytest.param("TFA_RETENTION", "-5", id="retention-negative"),
    pytest.param("TFA_ADMIN_AUDIT_RETENTION", "400d", id="admin_audit_retention-not-seconds"),
    pytest.param("TFA_ADMIN_AUDIT_RETENTION", "-1", id="admin_audit_retention-negative"),
    pytest.param("TFA_RATE_LIMITS", "sometimes", id="rate_limits-not-a-switch"),
    pytest.param("TFA_CALLBACK_ALLOW_PRIVATE", "2", id="callback_allow_private-not-a-switch"),
    pytest.param("TFA_LIMIT_PHONE_SENDS", "5", id="limit-without-seconds"),
    pytest.param("TFA_LIMIT_TOKEN_REQUESTS", "0/60", id="limit-zero-count"),
    pytest.param("TFA_LIMIT_PHONE_FAILURES", "ten/60", id="limit-not-numbers"),
    pytest.param("TFA_ARGON2_PROFILE", "fast", id="argon2_profile-unknown"),
    pytest.param("TFA_DEFAULT_SENDER_ID", "Far too long sender", id="default_sender_id-invalid"),
    pytest.param("TFA_DEFAULT_TEMPLATE", "no placeholder", id="default_template-no-placeholder"),
    pytest.param("TFA_GATEWAY", "carrier-pigeon", id="gateway-unknown"),
    pytest.param("TFA_FORWARDED_HEADER", "x-real-ip", id="forwarded_header-unknown"),
    pytest.param("TFA_TRUSTED_PROXIES", "10.0.0.1,proxy.local", id="trusted_proxy-not-an-ip"),
]


# -- defaults and sources ----------------------------------------------------------------
def test_defaults_without_file_or_variables() -> None:
    """With nothing configured the settings are the documented defaults."""
    settings = load_settings(None, {})
    assert (settings.database, settings.gateway, settings.host, settings.port) == (
        "./tfa.db", "console", "127.0.0.1", 8080,
    )
    assert (settings.threads, settings.trusted_proxies, settings.forwarded_header) == (
        32, (), "x-forwarded-for",
    )
    assert (settings.max_body, settings.engine, settings.tokens) == (16384, EngineConfig(), ())


@pytest.mark.parametrize(("variable", "text", "get", "expected"), EVERY_SETTING)
def test_every_variable_is_read(variable: str, text: str, get: Getter, expected: Any) -> None:
    """Each TFA_* variable sets its setting."""
    assert get(load_settings(None, {variable: text})) == expected


@pytest.mark.parametrize(("variable", "text", "get", "expected"), EVERY_SETTING)
def test_every_file_key_is_read(
    tmp_path: Path, variable: str, text: str, get: Getter, expected: Any
) -> None:
    """Each variable's lower-case name without TFA_ is a key of the file."""
    key = variable.removeprefix("TFA_").lower()
    path = write_config(tmp_path, f"{key} = {toml_value(text)}\n")
    assert get(load_settings(path, {})) == expected


def test_file_takes_native_toml_types(tmp_path: Path) -> None:
    """The file may use TOML integers, booleans and arrays instead of strings."""
    path = write_config(
        tmp_path,
        'port = 9001\nrate_limits = false\ncallback_allow_private = true\n'
        'code_ttl = 60\ntrusted_proxies = ["10.0.0.1", "fd00::/8"]\n',
    )
    settings = load_settings(path, {})
    assert (settings.port, settings.engine.rate_limits, settings.engine.code_ttl) == (
        9001, False, 60,
    )
    assert settings.engine.callback_allow_private is True
    assert settings.trusted_proxies == ("10.0.0.1", "fd00::/8")


def test_variable_wins_over_file(tmp_path: Path) -> None:
    """A variable set in the environment overrides the same key in the file."""
    path = write_config(tmp_path, 'database = "from-file.db"\ncode_ttl = 60\n')
    settings = load_settings(path, {"TFA_DATABASE": "from-env.db"})
    assert (settings.database, settings.engine.code_ttl) == ("from-env.db", 60)


def test_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    """A variable set to an empty string leaves the file's value in place."""
    path = write_config(tmp_path, "port = 9002\n")
    assert load_settings(path, {"TFA_PORT": ""}).port == 9002


def test_config_variable_names_the_file(tmp_path: Path) -> None:
    """Without a path argument, TFA_CONFIG names the file to read."""
    path = write_config(tmp_path, "port = 9003\n")
    assert load_settings(None, {"TFA_CONFIG": str(path)}).port == 9003


@pytest.mark.parametrize("off", ['"off"', "false", '"false"'])
def test_rate_limits_can_be_switched_off_in_the_file(tmp_path: Path, off: str) -> None:
    """rate_limits = "off" (or false) disables every limit."""
    path = write_config(tmp_path, f"rate_limits = {off}\n")
    assert load_settings(path, {}).engine.rate_limits is False


def test_raising_the_minimum_code_length_raises_the_default() -> None:
    """A minimum above 6 alone is enough: the default length follows it."""
    engine = load_settings(None, {"TFA_MIN_CODE_LENGTH": "8"}).engine
    assert (engine.min_code_length, engine.default_code_length) == (8, 8)


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(("variable", "text"), BAD_VALUES)
def test_bad_variable_is_refused_naming_it(variable: str, text: str) -> None:
    """A variable with a value the service cannot run with is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=variable):
        load_settings(None, {variable: text})


@pytest.mark.parametrize(("variable", "text"), BAD_VALUES)
def test_bad_file_value_is_refused_naming_the_key(
    tmp_path: Path, variable: str, text: str
) -> None:
    """A file key with a value the service cannot run with is a ConfigError naming it."""
    key = variable.removeprefix("TFA_").lower()
    path = write_config(tmp_path, f"{key} = {toml_value(text)}\n")
    with pytest.raises(ConfigError, match=rf"\b{key}\b"):
        load_settings(path, {})


def test_wrong_toml_type_is_refused_naming_the_key(tmp_path: Path) -> None:
    """A boolean where a number belongs is an error naming the key."""
    path = write_config(tmp_path, "port = true\n")
    with pytest.raises(ConfigError, match="port"):
        load_settings(path, {})


def test_unknown_file_key_is_refused_naming_it(tmp_path: Path) -> None:
    """A misspelt key in the file is an error, not silently ignored."""
    path = write_config(tmp_path, "code_tll = 60\n")
    with pytest.raises(ConfigError, match="code_tll"):
        load_settings(path, {})


def test_unknown_variable_is_a_warning() -> None:
    """An unknown TFA_* variable does not stop the service but is reported."""
    settings = load_settings(None, {"TFA_CODE_TTLL": "60", "HOME": "/root"})
    assert settings.warnings() == ["TFA_CODE_TTLL is not a tfa setting; ignored"]


def test_mediariver_gateway_needs_its_credentials() -> None:
    """Selecting the mediariver gateway without URL and credentials names what is missing."""
    with pytest.raises(ConfigError, match="TFA_MEDIARIVER_URL, TFA_MEDIARIVER_USERNAME"):
        load_settings(None, {"TFA_GATEWAY": "mediariver"})


def test_mediariver_gateway_url_must_be_http() -> None:
    """A mediariver URL that is not http(s) is a configuration error."""
    environ = {"TFA_GATEWAY": "mediariver", "TFA_MEDIARIVER_URL": "ftp://sms.example",
               "TFA_MEDIARIVER_USERNAME": "u", "TFA_MEDIARIVER_PASSWORD": "p"}
    with pytest.raises(ConfigError, match="http"):
        load_settings(None, environ)


def _mediariver_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The variables of a service sending through mediariver at a closed port, and ``extra``."""
    return {"TFA_DATABASE": str(tmp_path / "tfa.db"), "TFA_GATEWAY": "mediariver",
            "TFA_MEDIARIVER_URL": "http://127.0.0.1:9/", "TFA_MEDIARIVER_USERNAME": "u",
            "TFA_MEDIARIVER_PASSWORD": "p", **extra}


def test_built_engine_sends_through_mediariver(tmp_path: Path) -> None:
    """gateway = "mediariver" builds an engine on a MediariverGateway at the given URL."""
    environ = _mediariver_environ(tmp_path)
    engine = build_engine(load_settings(None, environ))
    try:
        bulkhead = engine.gateway
        assert isinstance(bulkhead, Bulkhead)
        assert isinstance(bulkhead.gateway, CircuitBreaker)
        assert isinstance(bulkhead.gateway.gateway, MediariverGateway)
        assert bulkhead.gateway.deadline == bulkhead.gateway.gateway.deadline == 10
    finally:
        engine.close()


def test_mediariver_sends_share_half_the_threads_by_default(tmp_path: Path) -> None:
    """By default as many sends may wait on mediariver at once as half the server's
    threads, the bulkhead outside the breaker (a refusal for want of a slot is no
    gateway failure)."""
    environ = _mediariver_environ(tmp_path, TFA_THREADS="10")
    engine = build_engine(load_settings(None, environ))
    try:
        assert isinstance(engine.gateway, Bulkhead)
        assert engine.gateway.slots == 5
        assert isinstance(engine.gateway.gateway, CircuitBreaker)
    finally:
        engine.close()


def test_mediariver_and_its_fallback_share_one_bulkhead(tmp_path: Path) -> None:
    """With a fallback, TFA_GATEWAY_SLOTS bounds the sends waiting on both together: one
    bulkhead around the failover, a breaker for each gateway inside it."""
    environ = _mediariver_environ(
        tmp_path, TFA_GATEWAY_SLOTS="6", TFA_MEDIARIVER_FALLBACK_URL="http://127.0.0.1:10/",
        TFA_MEDIARIVER_FALLBACK_USERNAME="f", TFA_MEDIARIVER_FALLBACK_PASSWORD="q",
    )
    engine = build_engine(load_settings(None, environ))
    try:
        bulkhead = engine.gateway
        assert isinstance(bulkhead, Bulkhead)
        assert bulkhead.slots == 6
        routes = bulkhead.gateway
        assert isinstance(routes, RoutedGateway)
        assert routes.order_for(SmsMessage("m", "+4915112345678", "S", "x")) == [
            "mediariver", "mediariver-fallback"]
        assert all(isinstance(g, CircuitBreaker) for g in routes.gateways.values())
    finally:
        engine.close()


@pytest.mark.parametrize(("threads", "slots"), [(32, 16), (9, 4), (1, 1)])
def test_gateway_slots_default_to_half_the_threads(threads: int, slots: int) -> None:
    """Unset, TFA_GATEWAY_SLOTS is half of TFA_THREADS (at least one)."""
    settings = load_settings(None, {"TFA_THREADS": str(threads)})
    assert settings.gateway_slots_in_effect == slots


def test_gateway_slots_not_below_the_threads_is_a_warning() -> None:
    """As many slots as threads lets a stalled gateway hold them all: the service says so."""
    settings = load_settings(None, {"TFA_THREADS": "8", "TFA_GATEWAY_SLOTS": "8"})
    assert settings.warnings() == [
        "TFA_GATEWAY_SLOTS (8) is not below TFA_THREADS (8): a stalled gateway can hold "
        "every thread, and validations then wait for it"
    ]


def test_mediariver_deadline_is_configurable(tmp_path: Path) -> None:
    """TFA_MEDIARIVER_DEADLINE bounds one send, retries included."""
    environ = _mediariver_environ(tmp_path, TFA_MEDIARIVER_DEADLINE="3")
    engine = build_engine(load_settings(None, environ))
    try:
        assert isinstance(engine.gateway, Bulkhead)
        assert isinstance(engine.gateway.gateway, CircuitBreaker)
        sender = engine.gateway.gateway.gateway
        assert isinstance(sender, MediariverGateway)
        assert (sender.deadline, sender.read_timeout) == (3, 3.0)
    finally:
        engine.close()


@pytest.mark.parametrize("value", ["0", "61", "ten"])
def test_mediariver_deadline_out_of_range_is_refused(value: str) -> None:
    """A deadline outside 1..60 seconds names the variable."""
    with pytest.raises(ConfigError, match="TFA_MEDIARIVER_DEADLINE"):
        load_settings(None, {"TFA_MEDIARIVER_DEADLINE": value})


def test_unknown_gateway_error_lists_the_allowed_ones() -> None:
    """An unknown gateway's error names the gateways that exist."""
    with pytest.raises(ConfigError, match="console, memory, mediariver"):
        load_settings(None, {"TFA_GATEWAY": "sms"})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_settings(tmp_path / "missing.toml", {})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A file that is not TOML is a ConfigError, not a parser traceback."""
    path = write_config(tmp_path, "port = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, {})


def test_overrides_keep_unset_values_and_check_the_rest() -> None:
    """with_overrides ignores None and refuses values out of range."""
    settings = load_settings(None, {"TFA_PORT": "9000"})
    assert settings.with_overrides(host="0.0.0.0", port=None).port == 9000
    with pytest.raises(ConfigError, match="port"):
        settings.with_overrides(port=70000)


def test_secrets_stay_out_of_repr() -> None:
    """Passwords, secrets and the pepper do not appear in the settings' repr."""
    settings = load_settings(
        None,
        {"TFA_MEDIARIVER_PASSWORD": "pw-123456", "TFA_DLR_SECRET": "dlr-654321",
         "TFA_PEPPER": "pep-999999-999999"},
    )
    text = repr(settings)
    assert not any(secret in text for secret in ("pw-123456", "dlr-654321", "pep-999999-999999"))


# -- declared tokens -------------------------------------------------------------------
TOKENS_TOML = f"""
[[tokens]]
name = "shop"
token = "{SHOP_TOKEN}"
allowed_ips = ["10.0.0.0/8", "2001:db8::1"]
sender_id = "Shop"

[[tokens]]
name = "admin"
token = "{ADMIN_TOKEN}"
allowed_ips = ["10.0.0.300"]
"""


def test_tokens_are_read_from_the_file(tmp_path: Path) -> None:
    """[[tokens]] tables become declared tokens."""
    settings = load_settings(write_config(tmp_path, TOKENS_TOML), {})
    assert settings.tokens[0] == DeclaredToken(
        "shop", SHOP_TOKEN, allowed_ips=("10.0.0.0/8", "2001:db8::1"), sender_id="Shop"
    )
    assert [token.name for token in settings.tokens] == ["shop", "admin"]


def test_declared_token_stays_out_of_repr(tmp_path: Path) -> None:
    """A declared token's secret does not appear in the settings' repr."""
    settings = load_settings(write_config(tmp_path, TOKENS_TOML), {})
    assert SHOP_TOKEN not in repr(settings)


def test_malformed_allowlist_entry_is_reported_not_raised(tmp_path: Path) -> None:
    """A declared allowlist entry that does not parse is a warning naming token and entry."""
    settings = load_settings(write_config(tmp_path, TOKENS_TOML), {})
    (warning,) = settings.token_warnings()
    assert "'admin'" in warning and "'10.0.0.300'" in warning
    assert str(catalogue.ALLOWLIST_INVALID.code) in warning


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param('name = "x"', "token", id="missing-token"),
        pytest.param(f'token = "{SHOP_TOKEN}"', "name", id="missing-name"),
        pytest.param(f'name = "x"\ntoken = "{SHOP_TOKEN}"\nexpiry = 5', "expiry",
                     id="unknown-key"),
        pytest.param(f'name = "x"\ntoken = "{SHOP_TOKEN}"\nsender_id = "Far too long id"',
                     "sender_id", id="bad-sender-id"),
        pytest.param(f'name = "x"\ntoken = "{SHOP_TOKEN}"\ncode_ttl = 900', "code_ttl",
                     id="ttl-above-cap"),
        pytest.param('name = "x"\ntoken = ""', "token", id="empty-token"),
    ],
)
def test_bad_token_table_is_refused(tmp_path: Path, table: str, message: str) -> None:
    """A [[tokens]] table that cannot be installed is a ConfigError naming the fault."""
    path = write_config(tmp_path, f"[[tokens]]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(path, {})


def test_token_name_declared_twice_is_refused(tmp_path: Path) -> None:
    """Two [[tokens]] with the same name are an error (one would silently replace the other)."""
    table = f'[[tokens]]\nname = "x"\ntoken = "{SHOP_TOKEN}"\n'
    path = write_config(tmp_path, table + table.replace(SHOP_TOKEN, ADMIN_TOKEN))
    with pytest.raises(ConfigError, match="more than once"):
        load_settings(path, {})


# -- the engine built from settings ---------------------------------------------------------
def memory_settings(tmp_path: Path, config: str = "") -> Settings:
    """Settings with the memory gateway, cheap hashing and a database in tmp_path."""
    path = write_config(tmp_path, config)
    environ = {
        "TFA_DATABASE": str(tmp_path / "tfa.db"),
        "TFA_GATEWAY": "memory",
        "TFA_ARGON2_PROFILE": "test",
    }
    return load_settings(path, environ)


def request(settings: Settings, token: str, client_ip: str = "10.1.2.3") -> catalogue.Status:
    """The status of one code request through an engine built from ``settings``."""
    engine = build_engine(settings)
    try:
        body = {"client_ref": "login-1", "phone_number": UK_MOBILE}
        return engine.request_code(token, client_ip, body).status
    finally:
        engine.close()


def test_built_engine_uses_the_selected_gateway(tmp_path: Path) -> None:
    """gateway = "memory" builds an engine on a MemoryGateway."""
    engine = build_engine(memory_settings(tmp_path))
    try:
        assert isinstance(engine.gateway, MemoryGateway)
    finally:
        engine.close()


def test_declared_token_authenticates(tmp_path: Path) -> None:
    """A token declared in the file works for requests from an allowed address."""
    settings = memory_settings(tmp_path, TOKENS_TOML)
    assert request(settings, SHOP_TOKEN) == catalogue.SUCCESS


def test_declared_token_with_malformed_allowlist_gets_66(tmp_path: Path) -> None:
    """A declared token whose allowlist does not parse answers -66, yet the engine builds."""
    settings = memory_settings(tmp_path, TOKENS_TOML)
    assert request(settings, ADMIN_TOKEN) == catalogue.ALLOWLIST_INVALID


def test_token_removed_from_the_file_is_revoked(tmp_path: Path) -> None:
    """A token no longer declared stops working at the next start."""
    build_engine(memory_settings(tmp_path, TOKENS_TOML)).close()
    remaining = TOKENS_TOML.split("[[tokens]]\nname = \"admin\"")[0]
    assert request(memory_settings(tmp_path, remaining), ADMIN_TOKEN) == catalogue.TOKEN_INVALID


def test_engine_settings_reach_the_engine(tmp_path: Path) -> None:
    """The engine runs by the configured EngineConfig."""
    settings = memory_settings(tmp_path, "code_ttl = 90\n")
    engine = build_engine(settings)
    try:
        assert engine.config.code_ttl == 90
    finally:
        engine.close()


def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    """A database path in a missing directory is a StoreError naming the path and why."""
    settings = memory_settings(tmp_path).with_overrides(database=str(tmp_path / "no" / "x.db"))
    with pytest.raises(StoreError, match=r"x\.db: its folder .*/no does not exist"):
        build_engine(settings)


def test_renamed_declared_token_keeps_working(tmp_path: Path) -> None:
    """Renaming a declared token in the file (same token) still lets the server start."""
    build_engine(memory_settings(tmp_path, TOKENS_TOML)).close()
    renamed = TOKENS_TOML.replace('name = "shop"', 'name = "webshop"')
    assert request(memory_settings(tmp_path, renamed), SHOP_TOKEN) == catalogue.SUCCESS


def test_renamed_declared_token_is_updated_in_place(tmp_path: Path) -> None:
    """A rename keeps one record (and its codes) under the new name."""
    build_engine(memory_settings(tmp_path, TOKENS_TOML)).close()
    renamed = TOKENS_TOML.replace('name = "shop"', 'name = "webshop"')
    engine = build_engine(memory_settings(tmp_path, renamed))
    try:
        revoked = {record.name: record.revoked for record in engine.list_tokens()}
    finally:
        engine.close()
    assert revoked == {"webshop": False, "admin": False}


def test_token_declared_again_after_removal_works_again(tmp_path: Path) -> None:
    """Putting a removed declaration back into the file reinstates it."""
    build_engine(memory_settings(tmp_path, TOKENS_TOML)).close()
    build_engine(memory_settings(tmp_path, "")).close()
    assert request(memory_settings(tmp_path, TOKENS_TOML), SHOP_TOKEN) == catalogue.SUCCESS


def test_rotated_declared_token_replaces_the_old_value(tmp_path: Path) -> None:
    """A new token value under the same name works and the old value stops working."""
    build_engine(memory_settings(tmp_path, TOKENS_TOML)).close()
    new_value = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
    rotated = TOKENS_TOML.replace(SHOP_TOKEN, new_value)
    assert request(memory_settings(tmp_path, rotated), SHOP_TOKEN) == catalogue.TOKEN_INVALID
    assert request(memory_settings(tmp_path, rotated), new_value) == catalogue.SUCCESS


def test_renamed_declared_token_keeps_its_codes(tmp_path: Path) -> None:
    """A code sent before a rename can be validated after it (client_ref still taken)."""
    assert request(memory_settings(tmp_path, TOKENS_TOML), SHOP_TOKEN) == catalogue.SUCCESS
    renamed = TOKENS_TOML.replace('name = "shop"', 'name = "webshop"')
    assert request(memory_settings(tmp_path, renamed), SHOP_TOKEN) == catalogue.CLIENT_REF_EXISTS


def test_declared_token_cannot_take_an_api_tokens_value(tmp_path: Path) -> None:
    """Declaring the value of a token created with the CLI is a configuration error."""
    engine = build_engine(memory_settings(tmp_path))
    try:
        issued = engine.create_token("cli-made")
    finally:
        engine.close()
    clash = f'[[tokens]]\nname = "x"\ntoken = "{issued.token}"\n'
    with pytest.raises(ConfigError, match="already in use"):
        build_engine(memory_settings(tmp_path, clash))
