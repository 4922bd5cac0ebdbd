"""The request-code body: media type, JSON decoding, sender ids and the parsed request."""

from __future__ import annotations

from typing import Any

import pytest

from tfa_engine import EngineConfig, catalogue
from tfa_engine._requests import (
    CodeRequest,
    decode_json,
    is_json_media_type,
    parse_code_request,
    render,
    valid_sender_id,
)

CONFIG = EngineConfig(argon2_profile="test")


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        pytest.param("application/json", True, id="plain"),
        pytest.param("application/json; charset=utf-8", True, id="charset"),
        pytest.param("application/json;charset=UTF-8", True, id="charset-no-space"),
        pytest.param("Application/JSON", True, id="upper-case"),
        pytest.param("  application/json  ", True, id="spaces"),
        pytest.param(None, False, id="none"),
        pytest.param("", False, id="empty"),
        pytest.param("text/plain", False, id="text-plain"),
        pytest.param("application/x-www-form-urlencoded", False, id="form"),
        pytest.param("application/jsonx", False, id="longer-subtype"),
        pytest.param("application/problem+json", False, id="suffix"),
        pytest.param("text/json", False, id="text-json"),
        pytest.param("application", False, id="type-only"),
    ],
)
def test_is_json_media_type(content_type: str | None, accepted: bool) -> None:
    """Only application/json (any case, any parameters) is accepted."""
    assert is_json_media_type(content_type) is accepted


@pytest.mark.parametrize(
    ("sender_id", "valid"),
    [
        pytest.param("TFA", True, id="letters"),
        pytest.param("My Shop", True, id="with-space"),
        pytest.param("Shop24", True, id="letters-and-digits"),
        pytest.param("ABCDEFGHIJK", True, id="11-letters"),
        pytest.param("ABCDEFGHIJKL", False, id="12-letters"),
        pytest.param("1" * 15, True, id="15-digits"),
        pytest.param("+" + "1" * 15, True, id="plus-15-digits"),
        pytest.param("1" * 16, False, id="16-digits"),
        pytest.param("1" * 12, True, id="12-digits-numeric"),
        pytest.param("A" + "1" * 11, False, id="12-mixed"),
        pytest.param("", False, id="empty"),
        pytest.param("Zürich", False, id="non-ascii-letter"),
        pytest.param("\uff34\uff26\uff21", False, id="fullwidth-letters"),
        pytest.param("\u0661\u0662\u0663", False, id="arabic-indic-digits"),
        pytest.param("Shop!", False, id="punctuation"),
        pytest.param("Shop\n", False, id="trailing-newline"),
        pytest.param("+Shop", False, id="plus-with-letters"),
    ],
)
def test_valid_sender_id(sender_id: str, valid: bool) -> None:
    """Up to 15 digits (optional +), or up to 11 ASCII letters, digits and spaces."""
    assert valid_sender_id(sender_id) is valid


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param('{"a": 1}', {"a": 1}, id="object-str"),
        pytest.param(b'{"a": 1}', {"a": 1}, id="object-bytes"),
        pytest.param(b"\xef\xbb\xbf{}", {}, id="utf8-bom"),
        pytest.param("[1, 2]", [1, 2], id="array"),
        pytest.param('{"a": 1e400}', {"a": float("inf")}, id="huge-number"),
        pytest.param('[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}], id="same-key-in-two-objects"),
    ],
)
def test_decode_json(text: bytes | str, value: Any) -> None:
    """A JSON body decodes to its value."""
    assert decode_json(text) == value


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a": NaN}', id="nan"),
        pytest.param('{"a": Infinity}', id="infinity"),
        pytest.param('{"a": -Infinity}', id="minus-infinity"),
        pytest.param("{", id="truncated"),
        pytest.param("", id="empty"),
        pytest.param(b"\xff\xfe\xfd", id="not-utf8"),
        pytest.param("{'a': 1}", id="single-quotes"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep-nesting"),
        pytest.param('{"phone_number": "+447911123456", "phone_number": "+447911654321"}',
                     id="duplicate-key"),
        pytest.param('{"a": {"b": 1, "b": 1}}', id="duplicate-key-nested"),
        pytest.param('[{"a": 1}, {"a": 1, "a": 2}]', id="duplicate-key-in-array"),
    ],
)
def test_decode_json_rejects(text: bytes | str) -> None:
    """Anything that is not strict JSON raises ValueError (NaN included), and so does an
    object that repeats a key, at any depth."""
    with pytest.raises(ValueError, match="not JSON"):
        decode_json(text)


def test_render_replaces_every_placeholder() -> None:
    """Every {#TFA_CODE} in a template is replaced."""
    assert render("{#TFA_CODE} / {#TFA_CODE}", "123456") == "123456 / 123456"


def test_parse_fills_in_the_defaults() -> None:
    """A minimal body gets the default length, type, case and template."""
    request = parse_code_request({"client_ref": "r", "phone_number": "00447911123456"}, CONFIG)
    assert request == CodeRequest(
        client_ref="r",
        phone="+447911123456",
        code_length=6,
        code_type="numeric",
        case_sensitive=False,
        callback_url=None,
        sender_id=None,
        template="Your authentication code is: {#TFA_CODE}",
        region="GG",  # +447911 is Guernsey's
        number_range="+44791",
    )


def test_parse_keeps_the_given_fields() -> None:
    """Fields given in the body are kept."""
    data = {
        "client_ref": "r",
        "phone_number": "+4915123456789",
        "code_length": 8,
        "code_type": "alphanumeric",
        "case_sensitive": True,
        "sender_id": "Acme",
        "message_template": "Code: {#TFA_CODE}",
    }
    request = parse_code_request(data, CONFIG)
    assert isinstance(request, CodeRequest)
    assert (request.code_length, request.code_type, request.case_sensitive) == (
        8,
        "alphanumeric",
        True,
    )
    assert (request.sender_id, request.template) == ("Acme", "Code: {#TFA_CODE}")


def test_parse_ignores_unknown_fields() -> None:
    """Fields the API does not know are ignored, as Fortytwo does."""
    data = {"client_ref": "r", "phone_number": "+447911123456", "flavour": ["x"]}
    assert isinstance(parse_code_request(data, CONFIG), CodeRequest)


def test_parse_treats_null_optional_fields_as_absent() -> None:
    """null optional fields take their defaults."""
    data = {
        "client_ref": "r",
        "phone_number": "+447911123456",
        "code_length": None,
        "code_type": None,
        "case_sensitive": None,
        "callback_url": None,
        "sender_id": None,
        "message_template": None,
    }
    request = parse_code_request(data, CONFIG)
    assert isinstance(request, CodeRequest)
    assert (request.code_length, request.code_type, request.case_sensitive) == (
        6,
        "numeric",
        False,
    )


def test_parse_accepts_a_client_ref_of_64_chars() -> None:
    """A client_ref of exactly 64 characters is accepted."""
    data = {"client_ref": "r" * 64, "phone_number": "+447911123456"}
    assert isinstance(parse_code_request(data, CONFIG), CodeRequest)


@pytest.mark.parametrize(
    ("template", "accepted"),
    [
        pytest.param("a" * 154 + "{#TFA_CODE}", True, id="gsm-160"),
        pytest.param("a" * 155 + "{#TFA_CODE}", False, id="gsm-161"),
        pytest.param("ж" * 64 + "{#TFA_CODE}", True, id="ucs2-70"),
        pytest.param("ж" * 65 + "{#TFA_CODE}", False, id="ucs2-71"),
        pytest.param("€" * 77 + "{#TFA_CODE}", True, id="extension-chars-160"),
        pytest.param("€" * 78 + "{#TFA_CODE}", False, id="extension-chars-162"),
        pytest.param("a" * 74 + "{#TFA_CODE}" * 14, True, id="many-placeholders-158"),
        pytest.param("a" * 74 + "{#TFA_CODE}" * 15, False, id="many-placeholders-164"),
    ],
)
def test_template_must_fit_one_segment_with_a_six_digit_code(template: str, accepted: bool) -> None:
    """The rendered template must fit one SMS segment; otherwise -69."""
    data = {"client_ref": "r", "phone_number": "+447911123456", "message_template": template}
    result = parse_code_request(data, CONFIG)
    if accepted:
        assert isinstance(result, CodeRequest)
    else:
        assert result is catalogue.TEMPLATE_TOO_LONG


def test_template_length_counts_the_asked_code_length() -> None:
    """A template that fits with a 6-digit code can overflow with a 20-digit one."""
    data = {
        "client_ref": "r",
        "phone_number": "+447911123456",
        "code_length": 20,
        "message_template": "a" * 141 + "{#TFA_CODE}",
    }
    assert parse_code_request(data, CONFIG) is catalogue.TEMPLATE_TOO_LONG


@pytest.mark.parametrize(
    ("min_length", "code_length", "name"),
    [
        pytest.param(6, 5, "CODE_TOO_SHORT", id="below-default-min"),
        pytest.param(4, 3, "CODE_TOO_SHORT", id="below-4"),
        pytest.param(6, 0, "CODE_TOO_SHORT", id="zero"),
        pytest.param(6, -6, "CODE_TOO_SHORT", id="negative"),
        pytest.param(6, 21, "CODE_TOO_LONG", id="21"),
        pytest.param(6, 10**30, "CODE_TOO_LONG", id="huge"),
    ],
)
def test_code_length_bounds(min_length: int, code_length: int, name: str) -> None:
    """Lengths below the minimum are -57, above 20 are -58."""
    config = CONFIG.with_changes(min_code_length=min_length, default_code_length=min_length)
    data = {"client_ref": "r", "phone_number": "+447911123456", "code_length": code_length}
    assert parse_code_request(data, config) is getattr(catalogue, name)
