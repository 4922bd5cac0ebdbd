"""A request-code reads its phone number once: the checks that follow the request's parsing
(the destination allowlists, the fraud guard's number range) reuse what it found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import phonenumbers
import pytest

from tfa_engine import Engine, catalogue

UK_MOBILE = "+447911123456"


def test_request_code_parses_the_phone_number_once(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One request-code with every default control on parses its phone number once."""
    engine = make_engine()
    assert engine.config.rate_limits and engine.config.fraud_guard
    token = engine.create_token("parsed").token
    parsed: list[str] = []
    plain_parse = phonenumbers.parse

    def parse(number: str, region: str | None = None, *args: Any, **kwargs: Any) -> Any:
        parsed.append(number)
        return plain_parse(number, region, *args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", parse)
    outcome = engine.request_code(token, "127.0.0.1", {
        "client_ref": "once", "phone_number": UK_MOBILE})
    assert outcome.status == catalogue.SUCCESS, outcome.status
    assert parsed == [UK_MOBILE]
