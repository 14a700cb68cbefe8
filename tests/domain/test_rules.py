"""Identifier rules: unified social credit codes (GB 32100-2015) and mainland mobile numbers."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.rules import (
    credit_code_check_char,
    is_valid_credit_code,
    is_valid_mobile,
    mask_phone,
    normalize_credit_code,
    normalize_mobile,
)

# GB 32100-2015, written out again from the standard so the check below does not reuse the code
# under test: characters are worth their position in the 31-character set (no I, O, Z, S, V);
# position i (0-based) weighs 3**i mod 31; the check character is worth 31 - (sum mod 31),
# where 31 means 0.
STANDARD_CHARSET = "0123456789" + "ABCDEFGHJKLMNPQRTUWXY"
FORBIDDEN_LETTERS = "IOZSV"


def standard_check_char(body: str) -> str:
    total = sum(STANDARD_CHARSET.index(ch) * pow(3, i, 31) for i, ch in enumerate(body))
    value = 31 - total % 31
    return STANDARD_CHARSET[0 if value == 31 else value]


# Codes published on business licences and in the standard's own example.
PUBLISHED_CODES = [
    "91350100M000100Y43",
    "911100007109288314",
    "914403001922038216",
    "9144030071526726XG",
]


def test_the_reference_charset_is_the_standard_one():
    assert len(STANDARD_CHARSET) == 31
    assert not set(STANDARD_CHARSET) & set(FORBIDDEN_LETTERS)


@pytest.mark.parametrize("code", PUBLISHED_CODES)
def test_published_credit_codes_are_valid(code):
    assert standard_check_char(code[:17]) == code[17]  # the example itself is right
    assert credit_code_check_char(code[:17]) == code[17]
    assert is_valid_credit_code(code)


@pytest.mark.parametrize("code", PUBLISHED_CODES)
def test_credit_code_with_a_wrong_check_char_is_refused(code):
    wrong = next(c for c in STANDARD_CHARSET if c != code[17])
    assert not is_valid_credit_code(code[:17] + wrong)


def test_credit_code_with_a_mistyped_body_char_is_refused():
    code = "91350100M000100Y43"
    assert not is_valid_credit_code(code[:5] + "2" + code[6:])


def test_lowercase_credit_code_is_normalised_and_accepted():
    assert normalize_credit_code("  9144030071526726xg ") == "9144030071526726XG"
    assert is_valid_credit_code("9144030071526726xg")
    assert is_valid_credit_code(" 91350100m000100y43\n")


@pytest.mark.parametrize("letter", list(FORBIDDEN_LETTERS))
def test_credit_code_with_a_forbidden_letter_is_refused(letter):
    body = "91350100M00010" + letter + "Y4"
    # No check character can make it valid.
    assert not any(is_valid_credit_code(body + c) for c in STANDARD_CHARSET + FORBIDDEN_LETTERS)
    assert not is_valid_credit_code(letter + "1350100M000100Y43")


@pytest.mark.parametrize("code", ["", "91350100M000100Y4", "91350100M000100Y433", "91350100M000100Y43" * 2])
def test_credit_code_of_wrong_length_is_refused(code):
    assert not is_valid_credit_code(code)


def test_missing_credit_code_is_refused():
    assert not is_valid_credit_code(None)


credit_bodies = st.text(alphabet=STANDARD_CHARSET, min_size=17, max_size=17)


@given(credit_bodies)
def test_check_char_agrees_with_the_standard(body):
    assert credit_code_check_char(body) == standard_check_char(body)


@given(credit_bodies)
def test_exactly_one_last_char_completes_any_body(body):
    check = credit_code_check_char(body)
    assert is_valid_credit_code(body + check)
    for other in STANDARD_CHARSET + FORBIDDEN_LETTERS:
        if other != check:
            assert not is_valid_credit_code(body + other)


# ---- mobile numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("second", "3456789")
def test_mobile_numbers_13x_to_19x_are_valid(second):
    assert is_valid_mobile(f"1{second}812345678")


@pytest.mark.parametrize(
    "raw",
    ["+8613812345678", "+86 138 1234 5678", " 138 1234 5678 ", "138-1234-5678", "+86-138-1234-5678"],
)
def test_country_prefix_spaces_and_dashes_are_normalised(raw):
    assert normalize_mobile(raw) == "13812345678"
    assert is_valid_mobile(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "138123456789",  # 12 digits
        "1381234567",  # 10 digits
        "12812345678",  # 12x is no mobile range
        "10812345678",
        "23812345678",
        "1381234567a",
        "138I2345678",
        "+8512345678901",
        "",
        None,
    ],
)
def test_malformed_mobile_numbers_are_refused(raw):
    assert not is_valid_mobile(raw)


def test_mask_phone_keeps_first_three_and_last_four_digits():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138 1234 5678") == "138****5678"


def test_mask_phone_hides_short_values_entirely():
    assert mask_phone("1234567") == "*******"
    assert mask_phone("") == ""


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_masked_phone_reveals_no_middle_digit(phone):
    masked = mask_phone(phone)
    assert len(masked) == 11
    assert masked[:3] == phone[:3] and masked[-4:] == phone[-4:]
    assert masked[3:7] == "****"
