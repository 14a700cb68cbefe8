"""Resident ID numbers (GB 11643), bank card numbers (Luhn), trade codes and their masks."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.rules import (
    PROVINCE_CODES,
    TRADE_CODES,
    birth_date_of,
    card_number_problems,
    gender_of,
    id_number_check_char,
    id_number_problems,
    is_valid_card_number,
    is_valid_id_number,
    is_valid_trade_code,
    luhn_check_digit,
    mask_card_number,
    mask_id_number,
    normalize_card_number,
    normalize_id_number,
    normalize_trade_code,
)
from shiming.seed_workforce import generate_card_number, generate_id_number

TODAY = date(2026, 11, 25)

# ---- reference implementations, written from the standards, not from the code under test --------


def iso7064_mod11_2(first17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2: weights 2**(17-i) mod 11; check value (12 - S mod 11) mod 11."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def luhn_valid(number: str) -> bool:
    """Luhn: from the right, double every second digit, add the digits of the products."""
    total = 0
    for i, d in enumerate(int(c) for c in reversed(number)):
        if i % 2:
            d *= 2
            d = d // 10 + d % 10
        total += d
    return total % 10 == 0


def with_check(body17: str) -> str:
    return body17 + iso7064_mod11_2(body17)


# GB 11643-1999's own examples.
STANDARD_EXAMPLE = "11010519491231002X"
STANDARD_EXAMPLE_1880 = "440524188001010014"


# ---- ID numbers ----------------------------------------------------------------------------


def test_the_standards_example_is_valid_and_decoded():
    assert iso7064_mod11_2(STANDARD_EXAMPLE[:17]) == "X"
    assert id_number_problems(STANDARD_EXAMPLE, today=TODAY) == []
    assert is_valid_id_number(STANDARD_EXAMPLE, today=TODAY)
    assert birth_date_of(STANDARD_EXAMPLE) == date(1949, 12, 31)
    assert gender_of(STANDARD_EXAMPLE) == "F"  # sequence 002: even


def test_a_lowercase_x_and_surrounding_spaces_are_normalised():
    assert normalize_id_number("  11010519491231002x ") == STANDARD_EXAMPLE
    assert is_valid_id_number(" 11010519491231002x", today=TODAY)


def test_the_age_limits_apply_at_the_given_day():
    # Born 1880: a valid number in 1960 (aged 79), but over 100 today.
    assert id_number_problems(STANDARD_EXAMPLE_1880, today=date(1960, 1, 1)) == []
    assert gender_of(STANDARD_EXAMPLE_1880) == "M"
    assert id_number_problems(STANDARD_EXAMPLE_1880, today=TODAY) == ["birth_date"]


@pytest.mark.parametrize(("birth", "ok"), [
    (date(2010, 11, 25), True),  # 16 today
    (date(2010, 11, 26), False),  # 16 tomorrow
    (date(1925, 11, 26), True),  # 100 until tomorrow
    (date(1925, 11, 25), False),  # 101 today
    (date(2027, 1, 1), False),  # not born yet
])
def test_holders_must_be_16_to_100(birth, ok):
    number = with_check(f"450103{birth:%Y%m%d}123")
    assert id_number_problems(number, today=TODAY) == ([] if ok else ["birth_date"])


@pytest.mark.parametrize("birth", ["19900230", "19901301", "19900001", "19900100", "00000000"])
def test_impossible_birth_dates_are_refused(birth):
    assert id_number_problems(with_check(f"450103{birth}123"), today=TODAY) == ["birth_date"]
    with pytest.raises(ValueError):
        birth_date_of(with_check(f"450103{birth}123"))


@pytest.mark.parametrize("prefix", ["00", "10", "16", "20", "24", "30", "38", "40", "47", "55", "60", "66", "70",
                                    "80", "83", "90", "99"])
def test_unknown_province_prefixes_are_refused(prefix):
    assert id_number_problems(with_check(f"{prefix}0103199001011234"[:17]), today=TODAY) == ["region"]


@pytest.mark.parametrize("prefix", sorted(PROVINCE_CODES))
def test_every_province_prefix_is_accepted(prefix):
    assert id_number_problems(with_check(f"{prefix}0103199001011234"[:17]), today=TODAY) == []


def test_a_wrong_check_digit_is_reported():
    assert id_number_problems("110105194912310021", today=TODAY) == ["check_digit"]


def test_several_problems_are_reported_together():
    assert id_number_problems("990105199002301230", today=TODAY) == ["region", "birth_date", "check_digit"]


@pytest.mark.parametrize("raw", ["", None, "11010519491231002", "11010519491231002X1", "1101051949123100XX",
                                 "A1010519491231002X", "110105 19491231002", "11010519491231002Y", "１１０１０５１９４９１２３１００２Ｘ",
                                 "４４０５２４１８８００１０１００１４"])
def test_malformed_numbers_have_only_a_format_problem(raw):
    assert id_number_problems(raw, today=TODAY) == ["format"]
    assert not is_valid_id_number(raw, today=TODAY)


def test_gender_comes_from_the_seventeenth_digit():
    assert gender_of(with_check("45010319900101123")) == "M"
    assert gender_of(with_check("45010319900101124")) == "F"


def test_the_mask_shows_the_first_three_and_last_four():
    assert mask_id_number(STANDARD_EXAMPLE) == "110***********002X"
    assert mask_id_number(" 11010519491231002x") == "110***********002X"
    assert mask_id_number("1234567") == "*******"
    assert mask_id_number("") == ""


id_bodies = st.builds(
    lambda region, born, seq: f"{region}0103{born:%Y%m%d}{seq:03d}",
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.dates(min_value=date(1927, 1, 1), max_value=date(2010, 1, 1)),
    st.integers(0, 999),
)


@given(id_bodies)
def test_check_char_agrees_with_iso_7064(body):
    assert id_number_check_char(body) == iso7064_mod11_2(body)
    assert id_number_problems(body + iso7064_mod11_2(body), today=TODAY) == []


@given(id_bodies, st.integers(0, 16), st.integers(1, 9))
def test_any_single_mistyped_digit_is_caught(body, position, bump):
    number = body + iso7064_mod11_2(body)
    wrong = number[:position] + str((int(number[position]) + bump) % 10) + number[position + 1:]
    assert "check_digit" in id_number_problems(wrong, today=TODAY)


@given(id_bodies)
def test_masked_id_number_reveals_nothing_between(body):
    number = body + iso7064_mod11_2(body)
    masked = mask_id_number(number)
    assert len(masked) == 18 and masked[:3] == number[:3] and masked[-4:] == number[-4:]
    assert set(masked[3:14]) == {"*"}


@given(st.integers(0, 2**32), st.dates(min_value=date(1930, 1, 1), max_value=date(2008, 1, 1)))
def test_generated_demo_numbers_are_valid(seed, birth):
    number = generate_id_number(random.Random(seed), "450103", birth)
    assert id_number_problems(number, today=TODAY) == []
    assert birth_date_of(number) == birth


def test_generated_numbers_without_a_birth_date_are_of_working_age():
    rng = random.Random(3)
    for _ in range(200):
        number = generate_id_number(rng)
        assert is_valid_id_number(number, today=TODAY)
        assert TODAY - timedelta(days=61 * 366) < birth_date_of(number) < TODAY - timedelta(days=26 * 365)


# ---- bank cards ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["4111111111111111", "5500000000000004", "6011000000000004",
                                    "378282246310005", "6222021234567890128", "6212 2611 0200 0000 003"])
def test_published_test_card_numbers_are_valid(number):
    assert luhn_valid(normalize_card_number(number))
    assert card_number_problems(number) == []
    assert is_valid_card_number(number)


def test_the_luhn_specification_example():
    assert luhn_check_digit("7992739871") == "3"


@pytest.mark.parametrize("number", ["4111111111111112", "6222021234567890125", "378282246310006"])
def test_a_wrong_luhn_digit_is_refused(number):
    assert card_number_problems(number) == ["check_digit"]


@pytest.mark.parametrize("number", ["", None, "42", "41111111111", "41111111111111111116",  # 11 and 20 digits
                                    "4111-1111-1111-1111", "4111111111111a11",
                                    "４１１１１１１１１１１１１１１１"])
def test_card_numbers_of_the_wrong_shape_are_refused(number):
    assert card_number_problems(number) == ["format"]
    assert not is_valid_card_number(number)


def test_spaces_are_removed_from_card_numbers():
    assert normalize_card_number(" 6222 0212 3456 7890 128\t") == "6222021234567890128"


card_bodies = st.from_regex(r"[0-9]{11,18}", fullmatch=True)


@given(card_bodies)
def test_check_digit_completes_any_body(body):
    assert luhn_valid(body + luhn_check_digit(body))
    assert is_valid_card_number(body + luhn_check_digit(body))


@given(card_bodies, st.data())
def test_a_single_mistyped_card_digit_is_caught(body, data):
    number = body + luhn_check_digit(body)
    position = data.draw(st.integers(0, len(number) - 1))
    bump = data.draw(st.integers(1, 9))
    wrong = number[:position] + str((int(number[position]) + bump) % 10) + number[position + 1:]
    assert card_number_problems(wrong) == ["check_digit"]


@given(st.integers(0, 2**32), st.sampled_from(["622202", "621700", "622848"]), st.integers(16, 19))
def test_generated_demo_cards_pass_luhn(seed, prefix, length):
    number = generate_card_number(random.Random(seed), prefix, length)
    assert len(number) == length and number.startswith(prefix)
    assert luhn_valid(number) and is_valid_card_number(number)


def test_a_masked_card_shows_only_the_last_four_in_one_shape():
    assert mask_card_number("6222021234567890128") == "**** **** **** 0128"
    assert mask_card_number("4111 1111 1111 1111") == "**** **** **** 1111"
    assert mask_card_number("0125") == "**** **** **** 0125"  # from the stored last4
    assert mask_card_number("1234567") == "*******"
    assert mask_card_number("") == ""


@given(card_bodies)
def test_a_masked_card_hides_its_length_and_all_but_four_digits(body):
    number = body + luhn_check_digit(body)
    masked = mask_card_number(number)
    assert masked == "**** **** **** " + number[-4:]
    assert sum(c.isdigit() for c in masked) == 4


# ---- trade codes -----------------------------------------------------------------------------


def test_national_trade_codes_are_known():
    for code in ("010", "020", "030", "040", "050", "130", "240", "270", "390", "900", "1000"):
        assert is_valid_trade_code(code), code
    assert TRADE_CODES["010"] == "砌筑工"


@pytest.mark.parametrize(("raw", "code"), [(10, "010"), ("20", "020"), (" 240 ", "240"), (1000, "1000")])
def test_excel_numbers_become_trade_codes(raw, code):
    assert normalize_trade_code(raw) == code
    assert is_valid_trade_code(raw)


@pytest.mark.parametrize("raw", ["011", "999", "bricklayer", "", None, "0010"])
def test_unknown_trade_codes_are_refused(raw):
    assert not is_valid_trade_code(raw)
