"""Phone numbers: international input to E.164, mobile numbers only; masking for logs."""

from __future__ import annotations

import pytest

from tfa_engine._phones import mask, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+447911123456", "+447911123456", id="uk-plus"),
        pytest.param("00447911123456", "+447911123456", id="uk-00"),
        pytest.param("447911123456", "+447911123456", id="uk-bare-digits"),
        pytest.param("+4915123456789", "+4915123456789", id="de"),
        pytest.param("+33612345678", "+33612345678", id="fr"),
        pytest.param("0033612345678", "+33612345678", id="fr-00"),
        pytest.param("+12015550123", "+12015550123", id="us-fixed-or-mobile"),
    ],
)
def test_mobile_numbers_become_e164(raw: str, expected: str) -> None:
    """A valid mobile number in any accepted spelling becomes E.164."""
    assert to_e164(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("+442079460000", id="uk-fixed-line"),
        pytest.param("+44 7911 123456", id="spaces"),
        pytest.param("+44-7911-123456", id="dashes"),
        pytest.param("(+44) 7911123456", id="brackets"),
        pytest.param("+44791112345a", id="letter"),
        pytest.param("phone", id="word"),
        pytest.param("", id="empty"),
        pytest.param("+", id="plus-only"),
        pytest.param("00", id="00-only"),
        pytest.param("++447911123456", id="double-plus"),
        pytest.param("+\uff14\uff147911123456", id="fullwidth-digits"),
        pytest.param("+\u0664\u06647911123456", id="arabic-indic-digits"),
        pytest.param("+447911123456\n", id="trailing-newline"),
        pytest.param(" +447911123456", id="leading-space"),
        pytest.param("+4479111234567890", id="16-digits"),
        pytest.param("+44791112345", id="too-short-for-uk"),
        pytest.param("07911123456", id="national-format"),
        pytest.param("+999123456789", id="no-such-country"),
    ],
)
def test_other_input_is_refused(raw: str) -> None:
    """Anything that is not a valid international mobile number gives None."""
    assert to_e164(raw) is None


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        pytest.param("+447911123456", "+44********56", id="uk"),
        pytest.param("+4915123456789", "+49*********89", id="de"),
        pytest.param("+1234567", "+12***67", id="seven-chars"),
        pytest.param("+12345", "******", id="short-fully-masked"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask(e164: str, masked: str) -> None:
    """A masked number keeps the country prefix and the last two digits only."""
    assert mask(e164) == masked
