"""Token administration through the engine: names, rotation, updates, revocation, last use."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fake_clock import FakeClock

from tfa_engine import Engine, RateLimit, catalogue
from tfa_engine._tokens import TokenAdmin
from tfa_engine.config import ConfigError

IP = "127.0.0.1"
UK = "+447911123456"
DE = "+4915123456789"

MakeEngine = Callable[..., Engine]


def request(engine: Engine, token: str, ref: str = "r", phone: str = UK) -> catalogue.Status:
    """The status of one code request."""
    return engine.request_code(token, IP, {"client_ref": ref, "phone_number": phone}).status


def test_a_second_active_token_may_not_take_a_name(engine: Engine) -> None:
    """Names tell tokens apart: creating a second "shop" is refused, saying why."""
    engine.create_token("shop")
    with pytest.raises(ConfigError, match="named 'shop' exists already"):
        engine.create_token("shop")
    assert [t.name for t in engine.list_tokens()] == ["shop"]


def test_a_revoked_tokens_name_can_be_used_again(engine: Engine) -> None:
    """Once revoked, a token no longer holds its name."""
    engine.create_token("shop")
    assert engine.revoke_token("shop")
    issued = engine.create_token("shop")
    assert engine.find_token("shop") == issued.record


def test_revoke_by_name_stops_the_token(engine: Engine) -> None:
    """revoke_token takes a name as well as an id; the token is refused at once."""
    issued = engine.create_token("shop")
    assert engine.revoke_token("shop") is True
    assert request(engine, issued.token) == catalogue.TOKEN_INVALID
    assert engine.revoke_token("shop") is False


def test_rotation_keeps_the_id_and_kills_the_old_value(engine: Engine) -> None:
    """A rotated token has a new value, the same id and settings; the old value is -50."""
    old = engine.create_token("shop", sender_id="Shop")
    new = engine.rotate_token("shop")
    assert new.token != old.token
    assert (new.record.id, new.record.sender_id) == (old.record.id, "Shop")
    assert request(engine, old.token, "a") == catalogue.TOKEN_INVALID
    assert request(engine, new.token, "b") == catalogue.SUCCESS


def test_update_changes_only_what_is_given(engine: Engine) -> None:
    """update_token sets the options given and keeps the others."""
    issued = engine.create_token("shop", sender_id="Shop", allowed_ips=["10.0.0.0/8"])
    updated = engine.update_token(
        "shop", name="webshop", allowed_destinations=["DE"], sms_budget=RateLimit(9, 60)
    )
    assert (updated.id, updated.name, updated.sender_id) == (issued.record.id, "webshop", "Shop")
    assert updated.allowed_ips == ("10.0.0.0/8",)
    assert (updated.allowed_destinations, updated.sms_budget) == (("DE",), RateLimit(9, 60))
    assert engine.find_token("webshop") == updated


def test_update_takes_effect_on_the_next_request(engine: Engine) -> None:
    """A destination allowlist set by update applies at once (-75, then 201 for DE)."""
    issued = engine.create_token("shop")
    engine.update_token(issued.record.id, allowed_destinations=["DE"])
    assert request(engine, issued.token, "a", UK) == catalogue.DESTINATION_REFUSED
    assert request(engine, issued.token, "b", DE) == catalogue.SUCCESS


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        pytest.param({"sender_id": "Far too long a sender"}, "sender_id", id="sender"),
        pytest.param({"allowed_ips": ["10.0.0.300"]}, "allowed_ips", id="allowlist"),
        pytest.param({"allowed_destinations": ["Narnia"]}, "allowed_destinations",
                     id="destination"),
        pytest.param({"name": "taken"}, "name", id="name-in-use"),
    ],
)
def test_update_refuses_bad_values(engine: Engine, changes: dict[str, object], key: str) -> None:
    """A bad value is a ConfigError naming the option, and nothing changes."""
    engine.create_token("taken")
    before = engine.create_token("shop").record
    with pytest.raises(ConfigError) as raised:
        engine.update_token("shop", **changes)
    assert raised.value.key == key
    assert engine.find_token("shop") == before


def test_unknown_token_cannot_be_rotated_or_updated(engine: Engine) -> None:
    """Rotating or updating a name nobody has raises LookupError."""
    with pytest.raises(LookupError):
        engine.rotate_token("ghost")
    with pytest.raises(LookupError):
        engine.update_token("ghost", sender_id="X")


def test_a_declared_token_is_changed_in_its_file(engine: Engine) -> None:
    """Rotating or updating a token of the configuration file is refused: the file rules."""
    engine.declare_token("from-file", "declared-secret")
    with pytest.raises(ConfigError, match="configuration file"):
        engine.rotate_token("from-file")
    with pytest.raises(ConfigError, match="configuration file"):
        engine.update_token("from-file", sender_id="X")


def test_last_use_is_noted_at_most_once_a_minute(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    """A request notes the token's last use; within a minute it is not written again."""
    engine = make_engine()
    issued = engine.create_token("shop")
    assert issued.record.last_used_at is None
    started = clock()
    request(engine, issued.token, "a")
    clock.advance(30)
    request(engine, issued.token, "b", DE)
    assert engine.find_token("shop").last_used_at == started  # type: ignore[union-attr]
    clock.advance(31)
    request(engine, issued.token, "c", "+33612345678")
    assert engine.find_token("shop").last_used_at == started + 61  # type: ignore[union-attr]


def test_token_operations_are_reached_through_the_engines_methods_alone(engine: Engine) -> None:
    """No public attribute of an engine is the helper behind its token methods."""
    helpers = [name for name, value in vars(engine).items()
               if not name.startswith("_") and isinstance(value, TokenAdmin)]
    assert helpers == []
