"""domain/money.py: the one place fen meet yuan. Property-based: every fen amount survives a round
trip through each format its parser reads."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from domain import money
from domain.money import MoneyError
from domain.wage_table import _sheet_xlsx

FEN = st.integers(min_value=-(10**15), max_value=10**15)
POSITIVE = st.integers(min_value=1, max_value=10**15)


@given(POSITIVE)
def test_a_formatted_amount_parses_back_to_its_fen(fen):
    assert money.parse_positive_yuan(money.format_yuan(fen), 10**15) == fen
    assert money.parse_positive_yuan(money.format_yuan_plain(fen), 10**15) == fen


@given(FEN)
def test_a_wage_cell_reads_back_the_fen_written_as_a_number(fen):
    assert money.parse_wage_cell(money.yuan_number(fen)) == fen
    assert money.parse_wage_cell(money.format_yuan(fen)) == fen
    assert money.yuan_decimal(fen) * 100 == fen and money.yuan_decimal(fen).as_tuple().exponent == -2


@given(st.lists(st.integers(min_value=0, max_value=50_000_000), min_size=1, max_size=20))
def test_a_spreadsheet_written_and_read_back_keeps_every_fen(amounts):
    data = _sheet_xlsx("t", ["fen"], [(money.yuan_number(f),) for f in amounts])
    cells = [row[0] for row in load_workbook(io.BytesIO(data), read_only=True).worksheets[0].iter_rows(
        min_row=2, values_only=True)]
    assert [money.parse_wage_cell(c) for c in cells] == amounts


@pytest.mark.parametrize(("fen", "grouped", "plain", "decimal"), [
    (0, "0.00", "0.00", "0.00"), (5, "0.05", "0.05", "0.05"), (32050, "320.50", "320.50", "320.50"),
    (123456789, "1,234,567.89", "1234567.89", "1234567.89"), (-150, "-1.50", None, "-1.50")])
def test_formats(fen, grouped, plain, decimal):
    assert money.format_yuan(fen) == grouped
    if plain is not None:
        assert money.format_yuan_plain(fen) == plain
    assert money.yuan_decimal(fen) == Decimal(decimal) and str(money.yuan_decimal(fen)) == decimal


@pytest.mark.parametrize(("text", "code"), [
    ("abc", "not_a_number"), ("NaN", "not_a_number"), ("Infinity", "not_a_number"), ("", "not_a_number"),
    (None, "not_a_number"), ("1.234", "too_many_decimals"), ("0", "must_be_positive"),
    ("-1", "must_be_positive"), ("0.00", "must_be_positive"), ("100.01", "too_large")])
def test_a_typed_amount_is_refused_with_its_code(text, code):
    with pytest.raises(MoneyError) as caught:
        money.parse_positive_yuan(text, 10_000)
    assert caught.value.code == code == str(caught.value)
    assert isinstance(caught.value, ValueError)  # callers catch ValueError


def test_a_typed_amount_takes_commas_and_spaces():
    assert money.parse_positive_yuan(" 1,234.5 ", 10**15) == 123450
    assert money.parse_positive_yuan("100.00", 10_000) == 10_000  # the maximum itself is allowed


@pytest.mark.parametrize(("value", "code"), [
    (None, "required"), ("", "required"), ("  ", "required"), ("x", "not_a_number"),
    (float("nan"), "not_a_number"), (1.234, "too_many_decimals"), ("0.001", "too_many_decimals")])
def test_a_wage_cell_is_refused_with_its_code(value, code):
    with pytest.raises(MoneyError) as caught:
        money.parse_wage_cell(value)
    assert caught.value.code == code


def test_a_wage_cell_may_be_zero_or_negative_the_table_decides():
    assert money.parse_wage_cell(0) == 0 and money.parse_wage_cell("-3.5") == -350
    assert money.parse_wage_cell(320) == 32000 and money.parse_wage_cell("1,000.05") == 100005
