"""The gateways of the settings: the flat TFA_GATEWAY form (one gateway, or mediariver and
its fallback) and the file's [[gateways]] and [[routes]] tables, the errors that name what
is wrong, and the engine built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import Settings, load_settings
from tfa_engine.config import ConfigError
from tfa_engine.gateways import Bulkhead, CircuitBreaker, Route, RoutedGateway, SmsMessage

MEDIARIVER = {"TFA_GATEWAY": "mediariver", "TFA_MEDIARIVER_URL": "https://sms.example",
              "TFA_MEDIARIVER_USERNAME": "acme", "TFA_MEDIARIVER_PASSWORD": "s3cret"}


def gateway_table(name: str, kind: str = "mediariver", **options: str) -> str:
    """One [[gateways]] table; mediariver's three options by default."""
    if kind == "mediariver" and not options:
        options = {"url": f"https://{name}.example", "username": name, "password": "pw"}
    lines = [f'name = "{name}"', f'type = "{kind}"', *(f'{k} = "{v}"' for k, v in options.items())]
    return "[[gateways]]\n" + "\n".join(lines) + "\n\n"


def route_table(destination: str, *gateways: str) -> str:
    """One [[routes]] table."""
    names = ", ".join(f'"{g}"' for g in gateways)
    return f'[[routes]]\ndestination = "{destination}"\ngateways = [{names}]\n\n'


def settings_from(tmp_path: Path, text: str, **environ: str) -> Settings:
    """Settings from a file holding ``text`` and the variables ``environ``."""
    path = tmp_path / "tfa.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ)


def test_flat_mediariver_settings_make_one_gateway_named_after_its_kind() -> None:
    """TFA_MEDIARIVER_* go to one gateway ``mediariver``, its deadline the default 10 s."""
    (gateway,) = load_settings(None, MEDIARIVER).gateways
    assert (gateway.name, gateway.kind) == ("mediariver", "mediariver")
    assert dict(gateway.options) == {"url": "https://sms.example", "username": "acme",
                                     "password": "s3cret", "deadline": 10}


def test_flat_keys_of_the_file_work_as_the_variables_do(tmp_path: Path) -> None:
    """mediariver_url... in the file are the same settings."""
    text = "".join(f'{k.removeprefix("TFA_").lower()} = "{v}"\n' for k, v in MEDIARIVER.items())
    (gateway,) = settings_from(tmp_path, text).gateways
    assert gateway.options["username"] == "acme"


def test_a_fallback_account_is_a_second_gateway_tried_after_the_first() -> None:
    """TFA_MEDIARIVER_FALLBACK_* add the gateway ``mediariver-fallback``, routed after the
    first, with the first's deadline."""
    settings = load_settings(None, {
        **MEDIARIVER, "TFA_MEDIARIVER_DEADLINE": "4",
        "TFA_MEDIARIVER_FALLBACK_URL": "https://backup.example",
        "TFA_MEDIARIVER_FALLBACK_USERNAME": "b", "TFA_MEDIARIVER_FALLBACK_PASSWORD": "q"})
    assert [(g.name, g.options["deadline"]) for g in settings.gateways] == [
        ("mediariver", 4), ("mediariver-fallback", 4)]
    assert settings.routes == (Route("default", ("mediariver", "mediariver-fallback")),)


def test_tables_declare_named_gateways_and_their_routes(tmp_path: Path) -> None:
    """Two [[gateways]] and two [[routes]] are read as written."""
    settings = settings_from(tmp_path, gateway_table("eu") + gateway_table("backup")
                             + route_table("+49", "eu", "backup")
                             + route_table("default", "backup"))
    assert [(g.name, g.kind) for g in settings.gateways] == [("eu", "mediariver"),
                                                              ("backup", "mediariver")]
    assert settings.routes == (Route("+49", ("eu", "backup")), Route("default", ("backup",)))


def test_without_routes_every_gateway_is_tried_in_the_files_order(tmp_path: Path) -> None:
    """No [[routes]]: one default route over the gateways in the order declared."""
    settings = settings_from(tmp_path, gateway_table("b") + gateway_table("a"))
    assert settings.routes == (Route("default", ("b", "a")),)


@pytest.mark.parametrize(("text", "error"), [
    (gateway_table("eu", "pigeon"), "type must be one of console, memory, mediariver"),
    (gateway_table("eu", "mediariver", url="https://x.example", username="u", password="p",
                   colour="red"), "mediariver has no setting 'colour'"),
    (gateway_table("eu", "mediariver", url="https://x.example", username="u"),
     "needs password of gateway 'eu'"),
    (gateway_table("eu", "mediariver", url="ftp://x.example", username="u", password="p"),
     "url of gateway 'eu' .* must be an http"),
    (gateway_table("eu") + gateway_table("eu"), "'eu' is declared more than once"),
    (gateway_table("EU Main"), "must be 1 to 32 lower-case"),
    (gateway_table("eu") + route_table("default", "eu", "nowhere"),
     "no gateway is named 'nowhere'"),
    (gateway_table("eu") + route_table("+49", "eu"), 'need a route for destination = "default"'),
    (gateway_table("eu") + route_table("Germany", "eu"), "neither 'default'"),
    (gateway_table("eu") + route_table("default", "eu") + route_table("default", "eu"),
     "two routes .* are for default"),
    (route_table("default", "eu"), r"\[\[routes\]\] .* need \[\[gateways\]\]"),
])
def test_a_table_that_cannot_work_is_refused_naming_what_is_wrong(
    tmp_path: Path, text: str, error: str
) -> None:
    """Each mistake in the tables is a ConfigError naming the table, key or gateway."""
    with pytest.raises(ConfigError, match=error):
        settings_from(tmp_path, text)


def test_the_variable_and_the_tables_may_not_both_choose(tmp_path: Path) -> None:
    """TFA_GATEWAY with [[gateways]] in the file is refused, naming both."""
    with pytest.raises(ConfigError, match=r"TFA_GATEWAY and \[\[gateways\]\]"):
        settings_from(tmp_path, gateway_table("eu"), TFA_GATEWAY="console")


def test_options_of_a_kind_not_in_use_are_a_warning(tmp_path: Path) -> None:
    """TFA_MEDIARIVER_URL with the console gateway is ignored, and the service says so."""
    settings = load_settings(None, {"TFA_MEDIARIVER_URL": "https://sms.example"})
    assert settings.warnings() == [
        "TFA_MEDIARIVER_URL is set, but no gateway of its kind is in use; ignored"]


def test_no_password_shows_in_the_settings_repr(tmp_path: Path) -> None:
    """The gateways' options (which hold passwords) stay out of a repr."""
    settings = settings_from(tmp_path, gateway_table(
        "eu", "mediariver", url="https://x.example", username="u", password="hunter2-secret"))
    assert "hunter2-secret" not in repr(settings)


def test_the_engine_routes_over_each_gateway_behind_its_breaker_in_one_bulkhead(
    tmp_path: Path
) -> None:
    """Two table gateways: one bulkhead, a routed gateway inside, a breaker per gateway,
    and TFA_ROUTE_DEADLINE as the route's deadline."""
    settings = settings_from(
        tmp_path, gateway_table("eu") + gateway_table("backup") + route_table("DE", "backup", "eu")
        + route_table("default", "eu", "backup"),
        TFA_DATABASE=str(tmp_path / "tfa.db"), TFA_ROUTE_DEADLINE="6")
    engine = build_engine(settings)
    try:
        bulkhead = engine.gateway
        assert isinstance(bulkhead, Bulkhead)
        routes = bulkhead.gateway
        assert isinstance(routes, RoutedGateway)
        assert routes.deadline == 6
        assert all(isinstance(g, CircuitBreaker) for g in routes.gateways.values())
        german = SmsMessage("m", "+4915112345678", "S", "x")
        assert routes.order_for(german) == ["backup", "eu"]
    finally:
        engine.close()


def test_console_and_memory_gateways_need_no_bulkhead(tmp_path: Path) -> None:
    """Gateways that answer at once are routed without a bulkhead or breakers."""
    settings = settings_from(tmp_path, gateway_table("a", "memory") + gateway_table("b", "console"),
                             TFA_DATABASE=str(tmp_path / "tfa.db"))
    engine = build_engine(settings)
    try:
        assert isinstance(engine.gateway, RoutedGateway)
    finally:
        engine.close()
