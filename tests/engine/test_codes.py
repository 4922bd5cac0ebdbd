"""Code generation and the canonical form codes are compared in."""

from __future__ import annotations

import string

import pytest

from tfa_engine._codes import CODE_TYPES, CodeType, canonical_code, code_type_of, generate_code


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("numeric", "numeric", id="numeric"),
        pytest.param("alpha", "alpha", id="alpha"),
        pytest.param("alphanumeric", "alphanumeric", id="alphanumeric"),
        pytest.param(None, "numeric", id="none"),
        pytest.param("", "numeric", id="empty"),
        pytest.param("ALPHA", "numeric", id="wrong-case"),
        pytest.param("hex", "numeric", id="unknown"),
        pytest.param(7, "numeric", id="not-a-string"),
    ],
)
def test_code_type_of(value: object, expected: str) -> None:
    """Known code types are kept; anything else falls back to numeric."""
    assert code_type_of(value) == expected


def test_code_types() -> None:
    """The three documented code types exist."""
    assert set(CODE_TYPES) == {"numeric", "alpha", "alphanumeric"}


@pytest.mark.parametrize(
    ("code_type", "case_sensitive", "alphabet"),
    [
        pytest.param("numeric", False, string.digits, id="numeric"),
        pytest.param("numeric", True, string.digits, id="numeric-case-sensitive"),
        pytest.param("alpha", False, string.ascii_uppercase, id="alpha"),
        pytest.param("alpha", True, string.ascii_letters, id="alpha-case-sensitive"),
        pytest.param(
            "alphanumeric", False, string.ascii_uppercase + string.digits, id="alphanumeric"
        ),
        pytest.param(
            "alphanumeric",
            True,
            string.ascii_letters + string.digits,
            id="alphanumeric-case-sensitive",
        ),
    ],
)
def test_generated_code_uses_the_whole_alphabet_and_nothing_else(
    code_type: CodeType, case_sensitive: bool, alphabet: str
) -> None:
    """A long sample of codes uses exactly the type's alphabet."""
    sample = "".join(generate_code(20, code_type, case_sensitive) for _ in range(200))
    assert set(sample) == set(alphabet)


@pytest.mark.parametrize("length", [4, 6, 20])
def test_generated_code_has_the_asked_length(length: int) -> None:
    """A code has exactly the length asked for."""
    assert len(generate_code(length, "alphanumeric", False)) == length


def test_generated_codes_differ() -> None:
    """Codes are random: a hundred 20-digit codes are all different."""
    assert len({generate_code(20, "numeric", False) for _ in range(100)}) == 100


@pytest.mark.parametrize(
    ("submitted", "case_sensitive", "expected"),
    [
        pytest.param("123456", False, "123456", id="digits"),
        pytest.param("abc123", False, "ABC123", id="folded-to-upper"),
        pytest.param("aBc123", True, "aBc123", id="case-kept"),
        pytest.param("", False, None, id="empty"),
        pytest.param("123 456", False, None, id="space"),
        pytest.param("123-456", False, None, id="dash"),
        pytest.param(" 123456", False, None, id="leading-space"),
        pytest.param("１２３４５６", False, None, id="fullwidth-digits"),
        pytest.param("١٢٣٤٥٦", False, None, id="arabic-indic-digits"),
        pytest.param("12345６", False, None, id="one-fullwidth-digit"),
        pytest.param("ａｂｃ", False, None, id="fullwidth-letters"),
        pytest.param("ıii", False, None, id="dotless-i-upper-cases-to-I"),
        pytest.param("ß", False, None, id="sharp-s"),
        pytest.param("\u212aEY", False, None, id="kelvin-sign"),
    ],
)
def test_canonical_code(submitted: str, case_sensitive: bool, expected: str | None) -> None:
    """Only ASCII letters and digits have a canonical form; case folds when insensitive."""
    assert canonical_code(submitted, case_sensitive) == expected
