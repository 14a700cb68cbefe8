"""Checking each row of a roster on its own and against the file's other rows (no database)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..money import parse_positive_yuan
from ..pii import PiiCipher
from ..rules import (
    TRADE_CODES,
    card_number_problems,
    id_number_problems,
    is_valid_mobile,
    local_today,
    mask_card_number,
    mask_id_number,
    mask_phone,
    normalize_card_number,
    normalize_id_number,
    normalize_mobile,
    normalize_trade_code,
)
from ..workforce import CARD_NUMBER, ID_NUMBER
from .sheet import COLUMNS, INDEX, RowError, cell_date, cell_text

MAX_DAILY_RATE_FEN = 1_000_000  # 10,000 yuan a day: anything above is a typing error
_MAX_LEN = {"name": 50, "bank_name": 100}
_REQUIRED = ("name", "id_number", "team", "trade", "daily_rate", "entry_date")


@dataclass
class RosterRow:
    """One checked row, ready to be written."""

    row: int
    name: str
    id_number: str
    phone: str  # "" when not given
    team_id: int
    company_id: int
    trade: str
    daily_rate_fen: int
    bank_name: str  # "" when no card given
    card_number: str
    entry_date: date
    id_hash: str = ""
    card_hash: str = ""


@dataclass
class _Failures:
    """The errors of one row, each with its cell's masked value."""

    number: int
    raw: dict[str, str]
    errors: list[RowError] = field(default_factory=list)

    def __call__(self, column: str, code: str) -> None:
        self.errors.append(RowError(self.number, column, code, _masked(column, self.raw[column])))


@dataclass
class _Seen:
    """The file's ID numbers and cards so far, to find duplicates."""

    id_numbers: set[str] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)


def check_rows(rows: list[tuple[int, tuple]], teams: dict[str, tuple[int, int]],
               cipher: PiiCipher) -> tuple[list[RosterRow], list[RowError]]:
    """The rows without an error, and the errors of the others; `teams` maps a name to (id, company id)."""
    today = local_today()
    errors: list[RowError] = []
    parsed: list[RosterRow] = []
    seen = _Seen()
    for number, cells in rows:
        raw = {key: cell_text(cells[i]) for i, (key, _t) in enumerate(COLUMNS)}
        fail = _Failures(number, raw)
        _check_required_and_length(raw, fail)
        id_number = _checked_id_number(raw, today, seen, fail)
        phone = _checked_phone(raw, fail)
        team = teams.get(raw["team"])
        if raw["team"] and team is None:
            fail("team", "unknown_team")
        trade = _checked_trade(raw, fail)
        rate_fen = _checked_daily_rate(raw, fail)
        card_number = _checked_card(raw, seen, fail)
        entry = cell_date(cells[INDEX["entry_date"]])
        if raw["entry_date"] and entry is None:
            fail("entry_date", "format")
        if fail.errors:
            errors += fail.errors
            continue
        parsed.append(RosterRow(
            row=number, name=raw["name"], id_number=id_number, phone=phone,
            team_id=team[0], company_id=team[1], trade=trade, daily_rate_fen=rate_fen,
            bank_name=raw["bank_name"], card_number=card_number, entry_date=entry,
            id_hash=cipher.lookup_hash(id_number, ID_NUMBER),
            card_hash=cipher.lookup_hash(card_number, CARD_NUMBER) if card_number else "",
        ))
    return parsed, errors


def _check_required_and_length(raw: dict[str, str], fail: _Failures) -> None:
    for key in _REQUIRED:
        if not raw[key]:
            fail(key, "required")
    for key, limit in _MAX_LEN.items():
        if len(raw[key]) > limit:
            fail(key, "too_long")


def _checked_id_number(raw: dict[str, str], today: date, seen: _Seen, fail: _Failures) -> str:
    id_number = normalize_id_number(raw["id_number"])
    if id_number:
        for problem in id_number_problems(id_number, today=today):
            fail("id_number", problem)
        if id_number in seen.id_numbers:
            fail("id_number", "duplicate")
        seen.id_numbers.add(id_number)
    return id_number


def _checked_phone(raw: dict[str, str], fail: _Failures) -> str:
    phone = normalize_mobile(raw["phone"])
    if phone and not (phone.isascii() and is_valid_mobile(phone)):  # \d would take full-width digits
        fail("phone", "format")
    return phone


def _checked_trade(raw: dict[str, str], fail: _Failures) -> str:
    trade = normalize_trade_code(raw["trade"])
    if trade and trade not in TRADE_CODES:
        fail("trade", "unknown_trade")
    return trade


def _checked_daily_rate(raw: dict[str, str], fail: _Failures) -> int:
    if not raw["daily_rate"]:
        return 0
    try:
        return parse_positive_yuan(raw["daily_rate"], MAX_DAILY_RATE_FEN)
    except ValueError as exc:
        fail("daily_rate", str(exc))
        return 0


def _checked_card(raw: dict[str, str], seen: _Seen, fail: _Failures) -> str:
    """The card number; a card needs its bank's name and a bank's name its card."""
    card_number = normalize_card_number(raw["card_number"])
    if card_number and not raw["bank_name"]:
        fail("bank_name", "required")
    if raw["bank_name"] and not card_number:
        fail("card_number", "required")
    if card_number:
        for problem in card_number_problems(card_number):
            fail("card_number", problem)
        if card_number in seen.cards:
            fail("card_number", "duplicate")
        seen.cards.add(card_number)
    return card_number


def _masked(column: str, value: str) -> str:
    """A cell's value as an error may show it: identifiers masked, other text cut to 50 characters."""
    if not value:
        return ""
    if column == "id_number":
        return mask_id_number(value)
    if column == "card_number":
        return mask_card_number(value)
    if column == "phone":
        return mask_phone(value)
    return value[:50]
