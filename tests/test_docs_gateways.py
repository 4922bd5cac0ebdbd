"""docs/gateways.md ("Choosing a gateway") as written: its example settings file loads,
builds an engine, and routes numbers the way the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tfa_engine.adapters.server.service import build_engine
from tfa_engine.adapters.server.settings import load_settings
from tfa_engine.gateways import Bulkhead, RoutedGateway, SmsMessage

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "gateways.md").read_text(
    encoding="utf-8")


def example_file(tmp_path: Path) -> Path:
    """The page's ``tfa.toml`` example, written to a file."""
    (block,) = re.findall(r"```toml\n# tfa.toml\n(.*?)```", PAGE, flags=re.DOTALL)
    path = tmp_path / "tfa.toml"
    path.write_text(block, encoding="utf-8")
    return path


@pytest.mark.parametrize(("number", "order"), [
    ("+4915112345678", ["eu", "backup"]),  # the +49 prefix
    ("+12015550123", ["backup"]),  # region US
    ("+447911123456", ["backup", "eu"]),  # the default
])
def test_the_example_routes_numbers_as_the_page_says(
    tmp_path: Path, number: str, order: list[str]
) -> None:
    """Each number takes the route the page's example gives it."""
    settings = load_settings(example_file(tmp_path), {"TFA_DATABASE": str(tmp_path / "t.db")})
    engine = build_engine(settings)
    try:
        assert isinstance(engine.gateway, Bulkhead)
        routes = engine.gateway.gateway
        assert isinstance(routes, RoutedGateway)
        assert routes.order_for(SmsMessage("m", number, "S", "x")) == order
    finally:
        engine.close()


def test_every_kind_the_settings_know_is_in_the_pages_table() -> None:
    """The page's table has a row for each kind of gateway."""
    from tfa_engine.adapters.server.gateway_kinds import KINDS

    for kind in KINDS:
        assert f"| `{kind}` |" in PAGE, kind
