"""The `smpp` kind of gateway: its options, their defaults and checks, and what it builds."""

from __future__ import annotations

from typing import Any

import pytest

from tfa_engine.adapters.server.gateway_kinds import KINDS, gateway_spec
from tfa_engine.config import ConfigError
from tfa_engine.gateways.smpp import SmppGateway


def spec(**given: Any) -> Any:
    raw = {"host": "smsc.example", "system_id": "acme", "password": "pw", **given}
    return gateway_spec("eu", "smpp",
                        {key: (value, f"TFA_SMPP_{key.upper()}") for key, value in raw.items()},
                        lambda option: f"TFA_SMPP_{option.upper()}")


def test_smpp_options_default_as_documented() -> None:
    """Port 2775, no system_type, no TLS, a 10 s deadline unless given."""
    options = spec().options
    assert (options["port"], options["system_type"], options["tls"], options["deadline"]) == (
        2775, "", False, 10)


def test_smpp_builds_an_unbound_gateway_named_as_configured() -> None:
    """The spec builds an SmppGateway with its name and settings, bound to nothing yet."""
    gateway = spec(port="2776", tls="on", deadline="5", system_type="OTP").build()
    try:
        assert isinstance(gateway, SmppGateway)
        assert (gateway.label, gateway.where, gateway.tls, gateway.deadline,
                gateway.system_type, gateway.bound) == (
            "eu", "smsc.example:2776", True, 5, "OTP", False)
    finally:
        gateway.close()


def test_smpp_password_is_secret_and_required() -> None:
    """The password is marked secret, and host, system_id and password are required."""
    options = KINDS["smpp"].options
    assert options["password"].secret
    assert [name for name, option in options.items() if option.required] == [
        "host", "system_id", "password"]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("password", "123456789", "TFA_SMPP_PASSWORD must be ASCII of at most 8 characters"),
    ("system_id", "a" * 16, "TFA_SMPP_SYSTEM_ID must be ASCII of at most 15 characters"),
    ("port", "0", "TFA_SMPP_PORT must be 1..65535"),
])
def test_smpp_refuses_what_smpp_would_cut_or_cannot_use(
    option: str, value: str, message: str
) -> None:
    """A value SMPP 3.4 would silently truncate, or a port that cannot be, is refused."""
    with pytest.raises(ConfigError, match=message):
        spec(**{option: value})


def test_smpp_refusal_does_not_show_the_password() -> None:
    """The error for a too long password does not repeat it."""
    with pytest.raises(ConfigError) as raised:
        spec(password="hunter2hunter2")
    assert "hunter2" not in str(raised.value)
