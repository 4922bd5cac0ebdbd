"""Hand-checked SMS segment counts for engine.segments."""

from __future__ import annotations

import pytest

from tfa_engine._segments import (
    SegmentCount,
    fits_one_segment,
    gsm7_septets,
    is_gsm7,
    segments,
)

# Written out independently of the module so a typo in either one shows up.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039eÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
CYR = "ж"  # a BMP char outside GSM: 1 UTF-16 unit, forces UCS-2
EMOJI = "😀"  # U+1F600, outside the BMP: a surrogate pair

CASES = [
    pytest.param("", SegmentCount("GSM-7", 0, 1), id="empty"),
    pytest.param("Your authentication code is: 123456", SegmentCount("GSM-7", 35, 1), id="otp"),
    pytest.param("a" * 160, SegmentCount("GSM-7", 160, 1), id="gsm-160"),
    pytest.param("a" * 161, SegmentCount("GSM-7", 161, 2), id="gsm-161"),
    pytest.param("a" * 306, SegmentCount("GSM-7", 306, 2), id="gsm-306"),
    pytest.param("a" * 307, SegmentCount("GSM-7", 307, 3), id="gsm-307"),
    pytest.param("{" * 80, SegmentCount("GSM-7", 160, 1), id="ext-80-brace"),
    pytest.param("{" * 81, SegmentCount("GSM-7", 162, 2), id="ext-81-brace"),
    pytest.param("a" * 159 + "€", SegmentCount("GSM-7", 161, 2), id="ext-tips-over-160"),
    # 306 septets both times; only where the € falls differs.
    pytest.param("a" * 153 + "€" + "a" * 151, SegmentCount("GSM-7", 306, 2), id="ext-after-153"),
    pytest.param("a" * 152 + "€" + "a" * 152, SegmentCount("GSM-7", 306, 3), id="ext-on-153"),
    pytest.param("€", SegmentCount("GSM-7", 2, 1), id="euro-is-gsm"),
    pytest.param("\f", SegmentCount("GSM-7", 2, 1), id="form-feed"),
    pytest.param("\f" * 80, SegmentCount("GSM-7", 160, 1), id="form-feed-80"),
    pytest.param("Ç", SegmentCount("GSM-7", 1, 1), id="C-cedilla-upper-gsm"),
    pytest.param("ç", SegmentCount("UCS-2", 1, 1), id="c-cedilla-lower-ucs2"),
    pytest.param("a" * 100 + "ç", SegmentCount("UCS-2", 101, 2), id="one-char-switches-all"),
    pytest.param("€" * 30 + "ç", SegmentCount("UCS-2", 31, 1), id="ext-is-1-unit-in-ucs2"),
    pytest.param(CYR * 70, SegmentCount("UCS-2", 70, 1), id="ucs2-70"),
    pytest.param(CYR * 71, SegmentCount("UCS-2", 71, 2), id="ucs2-71"),
    pytest.param(CYR * 134, SegmentCount("UCS-2", 134, 2), id="ucs2-134"),
    pytest.param(CYR * 135, SegmentCount("UCS-2", 135, 3), id="ucs2-135"),
    pytest.param(EMOJI, SegmentCount("UCS-2", 2, 1), id="emoji-1"),
    pytest.param(EMOJI * 35, SegmentCount("UCS-2", 70, 1), id="emoji-35"),
    pytest.param(EMOJI * 36, SegmentCount("UCS-2", 72, 2), id="emoji-36"),
    pytest.param(CYR * 69 + EMOJI, SegmentCount("UCS-2", 71, 2), id="emoji-tips-over-70"),
    # 134 units both times; only where the emoji falls differs.
    pytest.param(CYR * 67 + EMOJI + CYR * 65, SegmentCount("UCS-2", 134, 2), id="emoji-after-67"),
    pytest.param(CYR * 66 + EMOJI + CYR * 66, SegmentCount("UCS-2", 134, 3), id="emoji-on-67"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_segments(text: str, expected: SegmentCount) -> None:
    """segments() returns the hand-computed encoding, units and parts."""
    assert segments(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_fits_one_segment_agrees(text: str, expected: SegmentCount) -> None:
    """fits_one_segment() is true exactly when the message is one part."""
    assert fits_one_segment(text) is (expected.parts == 1)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_is_gsm7_agrees(text: str, expected: SegmentCount) -> None:
    """is_gsm7() is true exactly when the message is encoded as GSM-7."""
    assert is_gsm7(text) is (expected.encoding == "GSM-7")


def test_basic_table_shape() -> None:
    """The basic table has 127 distinct chars: 128 code points minus ESC."""
    assert len(GSM_BASIC) == 127
    assert len(set(GSM_BASIC)) == 127
    assert "\x1b" not in GSM_BASIC


@pytest.mark.parametrize("char", list(GSM_BASIC), ids=lambda c: f"U+{ord(c):04X}")
def test_basic_char_is_one_septet(char: str) -> None:
    """Every basic-table char is GSM-7 and costs one septet."""
    assert segments(char) == SegmentCount("GSM-7", 1, 1)


@pytest.mark.parametrize("char", list(GSM_EXTENSION), ids=lambda c: f"U+{ord(c):04X}")
def test_extension_char_is_two_septets(char: str) -> None:
    """Every extension-table char is GSM-7 and costs two septets."""
    assert segments(char) == SegmentCount("GSM-7", 2, 1)


@pytest.mark.parametrize(
    "char",
    [
        pytest.param("ç", id="c-cedilla-lower"),
        pytest.param("á", id="a-acute"),
        pytest.param("â", id="a-circumflex"),
        pytest.param("À", id="A-grave"),
        pytest.param("`", id="backtick"),
        pytest.param("\t", id="tab"),
        pytest.param("\x1b", id="escape"),
        pytest.param("\u2126", id="ohm-sign-not-greek-omega"),
        pytest.param("\u00a0", id="nbsp"),
        pytest.param("\u2019", id="curly-apostrophe"),
    ],
)
def test_non_gsm_char_switches_to_ucs2(char: str) -> None:
    """A char outside both GSM tables forces UCS-2, even next to GSM text."""
    assert not is_gsm7(char)
    assert segments("hello " + char) == SegmentCount("UCS-2", 7, 1)


def test_sharp_s_is_gsm() -> None:
    """ß is in the basic table, unlike most other accented Latin letters."""
    assert segments("Straße") == SegmentCount("GSM-7", 6, 1)


def test_gsm7_septets_are_the_alphabets_code_points() -> None:
    """Each basic character is its code point in 3GPP TS 23.038, 0x1B (ESC) skipped."""
    expected = bytes(i for i in range(0x80) if i != 0x1B)
    assert gsm7_septets(GSM_BASIC) == expected


def test_gsm7_septets_escape_the_extension_table() -> None:
    """Each extension character is ESC and its septet: € is 1B 65, [ is 1B 3C."""
    assert gsm7_septets(GSM_EXTENSION) == bytes.fromhex(
        "1b0a 1b14 1b28 1b29 1b2f 1b3c 1b3d 1b3e 1b40 1b65")


def test_gsm7_septets_are_as_many_as_the_units_counted() -> None:
    """The octets sent are the units the segment counter counts."""
    text = "Code {42} costs 5€ ~ ok"
    assert len(gsm7_septets(text)) == segments(text).units


def test_gsm7_septets_refuse_a_character_outside_the_alphabet() -> None:
    """A character GSM 03.38 does not have is a ValueError, not a lookalike."""
    with pytest.raises(ValueError, match=r"U\+0436"):
        gsm7_septets(f"code {CYR}")
