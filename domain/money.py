"""Money: integer fen (分) in, integer fen out; yuan (元) only at the edges, as text or a cell.

Parsing (raises `MoneyError`, a `ValueError` whose code is one of the codes below):
- `parse_positive_yuan(text, max_fen)`: a typed amount such as a contract value or a daily rate:
  "1,234.5" → 123450; not_a_number | too_many_decimals | must_be_positive | too_large.
- `parse_wage_cell(value)`: a money cell of an uploaded wage table (number or text), any sign:
  required | not_a_number | too_many_decimals. The caller decides what a negative or zero means.

Formatting:
- `format_yuan(fen)`: with thousands separators, for pages and documents: 123456 → "1,234.56".
- `format_yuan_plain(fen)`: digits and two decimals, as a form field holds it: 123456 → "1234.56".
- `yuan_decimal(fen)`: a `Decimal` with two places: 32050 → Decimal("320.50").
- `yuan_number(fen)`: the number written into a spreadsheet cell: 32050 → 320.5 (the nearest
  double to the exact amount, so `parse_wage_cell` reads the same fen back).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import CodedError

CENT = Decimal("0.01")


class MoneyError(CodedError, ValueError):
    """An amount that cannot be read; `code` (also its message) says why."""


def _fen(value) -> int:
    """Yuan as written (commas allowed, at most two decimals) → fen, of any sign."""
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise MoneyError("not_a_number") from None
    if not amount.is_finite():
        raise MoneyError("not_a_number")
    if amount != amount.quantize(CENT):
        raise MoneyError("too_many_decimals")
    return int(amount * 100)


def parse_positive_yuan(text: str, max_fen: int) -> int:
    """A typed amount in yuan → fen, more than zero and at most `max_fen`."""
    fen = _fen(text)
    if fen <= 0:
        raise MoneyError("must_be_positive")
    if fen > max_fen:
        raise MoneyError("too_large")
    return fen


def parse_wage_cell(value) -> int:
    """A money cell (number or text) in yuan → fen; an empty cell is `required`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise MoneyError("required")
    return _fen(value)


def format_yuan(fen: int) -> str:
    """Fen as yuan with a thousands separator and two decimals: 123456 → "1,234.56", -150 → "-1.50"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def format_yuan_plain(fen: int) -> str:
    """Fen (not negative) as a form field shows it: plain digits, two decimals: 123456 → "1234.56"."""
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_decimal(fen: int) -> Decimal:
    """Fen as a yuan `Decimal` with two places: 32050 → Decimal("320.50")."""
    return (Decimal(fen) / 100).quantize(CENT)


def yuan_number(fen: int) -> float:
    """Fen as the yuan number of a spreadsheet cell: 32050 → 320.5, 5 → 0.05."""
    return fen / 100
