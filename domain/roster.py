"""Roster import from Excel for sites that start with a paper roster.

The file is read and every row checked first; only a file without a single error is written,
in the caller's transaction, with batched inserts. Errors name the Excel row (the header is row
1; row 0 means the file as a whole) and carry masked values only: an ID number, card or phone
never appears in full in an error or in the downloadable report.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterable, Iterator, Mapping, Optional, Sequence

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from .money import parse_positive_yuan
from .models import BankCard, ProjectWorker, Team, Worker, utcnow
from .processes.worker_exit import EngagementStatus
from .pii import PiiCipher
from .rules import (
    TRADE_CODES,
    birth_date_of,
    card_number_problems,
    gender_of,
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
from . import scope
from .uploads import is_size_refusal, xlsx_refusal
from .workforce import CARD_NUMBER, ID_NUMBER, PHONE

# (identifier, column title in the file) in file order; the titles are the file format.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "姓名"),
    ("id_number", "身份证号"),
    ("phone", "手机号"),
    ("team", "班组"),
    ("trade", "工种"),
    ("daily_rate", "日工资(元)"),
    ("bank_name", "开户银行"),
    ("card_number", "银行卡号"),
    ("entry_date", "进场日期"),
)
TITLES = dict(COLUMNS)
MAX_ROWS = 20_000
MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # a zip bomb stops here; 20,000 rows unpack to about 20 MB
MAX_DAILY_RATE_FEN = 1_000_000  # 10,000 yuan a day: anything above is a typing error
_MAX_LEN = {"name": 50, "bank_name": 100}
_CHUNK = 500  # values per IN (...) list
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Chinese text of each error code (the report is for site staff); `error_report_xlsx` takes others.
MESSAGES: dict[str, str] = {
    "not_xlsx": "文件不是有效的 Excel (.xlsx) 工作簿",
    "file_too_large": "文件超过 5 MB",
    "too_many_rows": "数据超过 20000 行",
    "bad_headers": "表头与模板不一致，请下载模板填写",
    "no_rows": "没有数据行",
    "required": "不能为空",
    "too_long": "过长",
    "format": "格式不正确",
    "region": "前两位不是有效的省级行政区划代码",
    "birth_date": "中的出生日期无效，或年龄不在16至100周岁之间",
    "check_digit": "校验位错误",
    "duplicate": "在文件中重复",
    "name_mismatch": "与系统中该身份证号登记的姓名不一致",
    "unknown_team": "在本项目中不存在，请先建立班组",
    "unknown_trade": "不是有效的工种代码",
    "not_a_number": "不是数字",
    "too_many_decimals": "最多保留两位小数",
    "must_be_positive": "必须大于0",
    "too_large": "超出上限",
    "in_use": "已是其他工人的工资卡",
}
REPORT_HEADERS = ("行号", "列", "错误说明", "错误代码", "值（已脱敏）")


@dataclass(frozen=True)
class RowError:
    row: int  # Excel row number; 0 = the file as a whole
    column: str  # identifier from COLUMNS, "" for the file
    code: str
    value_masked: str


@dataclass
class RosterResult:
    ok: bool
    created: int = 0  # enrolments added to the project
    updated: int = 0  # enrolments that existed and were updated
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Row:
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
class _Existing:
    """What the database already holds for the file's rows (read before anything is written)."""

    workers: dict[str, tuple[int, str, Optional[str]]]  # id hash -> (worker id, name, phone hash)
    card_owner: dict[str, int]  # hash of a file's card that is someone's current card -> worker id


# ---- template and report ---------------------------------------------------------------------


def roster_template_xlsx() -> bytes:
    """An empty roster: the header row, text-formatted identifier columns, and the trade codes."""
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append([title for _, title in COLUMNS])
    widths = {"name": 12, "id_number": 22, "phone": 15, "team": 14, "trade": 8, "daily_rate": 12,
              "bank_name": 18, "card_number": 24, "entry_date": 12}
    formats = {"id_number": "@", "phone": "@", "trade": "@", "card_number": "@", "daily_rate": "0.00",
               "entry_date": "yyyy-mm-dd"}
    for index, (key, _title) in enumerate(COLUMNS, start=1):
        ws.cell(row=1, column=index).font = Font(bold=True)
        letter = ws.cell(row=1, column=index).column_letter
        ws.column_dimensions[letter].width = widths[key]
        if key in formats:  # Excel would turn an 18-digit ID number into 1.10105E+17
            ws.column_dimensions[letter].number_format = formats[key]
    ws.freeze_panes = "A2"
    trades = wb.create_sheet("工种代码")
    trades.append(["代码", "工种"])
    for code, name in TRADE_CODES.items():
        trades.append([code, name])
    return _save(wb)


def error_report_xlsx(errors: Sequence[RowError], messages: Optional[Mapping[str, str]] = None) -> bytes:
    """The errors as a workbook to download: row, column, message, code and masked value."""
    messages = {**MESSAGES, **(messages or {})}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误")
    ws.append(list(REPORT_HEADERS))
    for e in errors:
        title = TITLES.get(e.column, "")
        ws.append([e.row, title or "文件", f"{title}{messages.get(e.code, e.code)}", e.code, e.value_masked])
    return _save(wb)


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---- import -----------------------------------------------------------------------------------


@scope.unscoped()  # workers are found by ID number across projects
def import_roster(session: Session, cipher: PiiCipher, project_id: int, data: bytes,
                  company_id: Optional[int] = None) -> RosterResult:
    """Check every row of an .xlsx roster; when all are right, save them all, else save nothing.

    With `company_id`, only that company's teams are known (a company account's import).
    Workers are found by ID number (created, or their name kept and phone updated), enrolled on
    the project with the row's team (whose company becomes the employer), trade, daily rate and
    entry date, and given the row's card as their current card when one is filled in.
    Writes go through the caller's session and transaction in batches; objects of these tables
    already loaded in that session are not refreshed.
    """
    refused = xlsx_refusal(data, MAX_BYTES, max_unpacked=MAX_UNPACKED_BYTES)  # SEC-2: before openpyxl
    if refused:
        return RosterResult(ok=False, errors=[RowError(0, "", "file_too_large" if is_size_refusal(refused)
                                                       else "not_xlsx", "")])
    rows, errors = _read_rows(data)
    if errors:
        return RosterResult(ok=False, errors=errors)
    team_query = select(Team.id, Team.company_id, Team.name).where(Team.project_id == project_id)
    if company_id is not None:  # a company account enrols into its own company's teams only (ACC-2 "collect")
        team_query = team_query.where(Team.company_id == company_id)
    teams = {name: (team_id, team_company) for team_id, team_company, name in session.execute(team_query)}
    parsed, errors = _check_rows(rows, teams, cipher)
    existing = _load_existing(session, parsed)
    errors += _check_against_database(parsed, existing)
    if errors:
        errors.sort(key=lambda e: (e.row, _column_order(e.column)))
        return RosterResult(ok=False, errors=errors)
    created, updated = _write(session, cipher, project_id, parsed, existing)
    return RosterResult(ok=True, created=created, updated=updated)


def _read_rows(data: bytes) -> tuple[list[tuple[int, tuple]], list[RowError]]:
    """(excel row number, cell values) of every non-blank data row, or the file-level error."""
    if len(data) > MAX_BYTES:
        return [], [RowError(0, "", "file_too_large", "")]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:  # zipfile reads no more than the declared sizes
            return [], [RowError(0, "", "file_too_large", "")]
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zipfile and openpyxl raise many types for a damaged or foreign file
        return [], [RowError(0, "", "not_xlsx", "")]
    try:
        ws = wb.worksheets[0]
        values = ws.iter_rows(max_col=len(COLUMNS), values_only=True)
        header = tuple(_text(v) for v in next(values, ()))
        if header + ("",) * (len(COLUMNS) - len(header)) != tuple(t for _, t in COLUMNS):
            return [], [RowError(0, "", "bad_headers", "")]  # the first row may be data: never echo it
        rows = []
        for number, cells in enumerate(values, start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
                if number > 2 * MAX_ROWS:  # a sheet of styled blank rows
                    return [], [RowError(0, "", "too_many_rows", "")]
                continue
            if len(rows) == MAX_ROWS:
                return [], [RowError(0, "", "too_many_rows", "")]
            rows.append((number, tuple(cells) + (None,) * (len(COLUMNS) - len(cells))))
    except Exception:  # damaged XML inside a valid zip surfaces only while reading
        return [], [RowError(0, "", "not_xlsx", "")]
    finally:
        wb.close()
    if not rows:
        return [], [RowError(0, "", "no_rows", "")]
    return rows, []


def _check_rows(rows: list[tuple[int, tuple]], teams: dict[str, tuple[int, int]],
                cipher: PiiCipher) -> tuple[list[_Row], list[RowError]]:
    today = local_today()
    errors: list[RowError] = []
    parsed: list[_Row] = []
    seen_ids: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    for number, cells in rows:
        raw = {key: _text(cells[i]) for i, (key, _t) in enumerate(COLUMNS)}
        row_errors: list[RowError] = []

        def fail(column: str, code: str) -> None:
            row_errors.append(RowError(number, column, code, _masked(column, raw[column])))

        for key in ("name", "id_number", "team", "trade", "daily_rate", "entry_date"):
            if not raw[key]:
                fail(key, "required")
        for key, limit in _MAX_LEN.items():
            if len(raw[key]) > limit:
                fail(key, "too_long")

        id_number = normalize_id_number(raw["id_number"])
        if id_number:
            for problem in id_number_problems(id_number, today=today):
                fail("id_number", problem)
            if id_number in seen_ids:
                fail("id_number", "duplicate")
            seen_ids.setdefault(id_number, number)

        phone = normalize_mobile(raw["phone"])
        if phone and not (phone.isascii() and is_valid_mobile(phone)):  # \d would take full-width digits
            fail("phone", "format")

        team = teams.get(raw["team"])
        if raw["team"] and team is None:
            fail("team", "unknown_team")

        trade = normalize_trade_code(raw["trade"])
        if trade and trade not in TRADE_CODES:
            fail("trade", "unknown_trade")

        rate_fen = 0
        if raw["daily_rate"]:
            try:
                rate_fen = parse_positive_yuan(raw["daily_rate"], MAX_DAILY_RATE_FEN)
            except ValueError as exc:
                fail("daily_rate", str(exc))

        card_number = normalize_card_number(raw["card_number"])
        if card_number and not raw["bank_name"]:
            fail("bank_name", "required")
        if raw["bank_name"] and not card_number:
            fail("card_number", "required")
        if card_number:
            for problem in card_number_problems(card_number):
                fail("card_number", problem)
            if card_number in seen_cards:
                fail("card_number", "duplicate")
            seen_cards.setdefault(card_number, number)

        entry = _date(cells[_INDEX["entry_date"]])
        if raw["entry_date"] and entry is None:
            fail("entry_date", "format")

        if row_errors:
            errors += row_errors
            continue
        parsed.append(_Row(
            row=number, name=raw["name"], id_number=id_number, phone=phone,
            team_id=team[0], company_id=team[1], trade=trade, daily_rate_fen=rate_fen,
            bank_name=raw["bank_name"], card_number=card_number, entry_date=entry,
            id_hash=cipher.lookup_hash(id_number, ID_NUMBER),
            card_hash=cipher.lookup_hash(card_number, CARD_NUMBER) if card_number else "",
        ))
    return parsed, errors


def _load_existing(session: Session, rows: list[_Row]) -> _Existing:
    workers = {}
    for chunk in _chunks([r.id_hash for r in rows]):
        for worker_id, digest, name, phone_digest in session.execute(
            select(Worker.id, Worker.id_number_hash, Worker.name, Worker.phone_hash)
            .where(Worker.id_number_hash.in_(chunk))
        ):
            workers[digest] = (worker_id, name, phone_digest)
    card_owner = {}
    for chunk in _chunks([r.card_hash for r in rows if r.card_hash]):
        for digest, worker_id in session.execute(
            select(BankCard.card_number_hash, BankCard.worker_id)
            .where(BankCard.card_number_hash.in_(chunk), BankCard.is_current.is_(True))
        ):
            card_owner[digest] = worker_id
    return _Existing(workers=workers, card_owner=card_owner)


def _check_against_database(rows: list[_Row], existing: _Existing) -> list[RowError]:
    errors = []
    for r in rows:
        known = existing.workers.get(r.id_hash)
        if known is not None and known[1] != r.name:
            errors.append(RowError(r.row, "name", "name_mismatch", r.name))
        owner = existing.card_owner.get(r.card_hash) if r.card_hash else None
        if owner is not None and (known is None or known[0] != owner):
            errors.append(RowError(r.row, "card_number", "in_use", mask_card_number(r.card_number)))
    return errors


def _write(session: Session, cipher: PiiCipher, project_id: int, rows: list[_Row],
           existing: _Existing) -> tuple[int, int]:
    now = utcnow()
    new_workers = [r for r in rows if r.id_hash not in existing.workers]
    if new_workers:
        session.execute(insert(Worker), [{
            "name": r.name,
            "id_number_enc": cipher.encrypt(r.id_number, ID_NUMBER),
            "id_number_hash": r.id_hash,
            "gender": gender_of(r.id_number),
            "birth_date": birth_date_of(r.id_number),
            "phone_enc": cipher.encrypt(r.phone, PHONE) if r.phone else None,
            "phone_hash": cipher.lookup_hash(r.phone, PHONE) if r.phone else None,
            "created_at": now,
        } for r in new_workers])
    worker_ids = {digest: known[0] for digest, known in existing.workers.items()}
    for chunk in _chunks([r.id_hash for r in new_workers]):
        worker_ids.update(session.execute(
            select(Worker.id_number_hash, Worker.id).where(Worker.id_number_hash.in_(chunk))).all())

    phone_changes = []
    for r in rows:
        known = existing.workers.get(r.id_hash)
        if known is not None and r.phone and cipher.lookup_hash(r.phone, PHONE) != known[2]:
            phone_changes.append({"id": known[0], "phone_enc": cipher.encrypt(r.phone, PHONE),
                                  "phone_hash": cipher.lookup_hash(r.phone, PHONE)})
    if phone_changes:
        session.execute(update(Worker), phone_changes)

    enrolled = dict(session.execute(
        select(ProjectWorker.worker_id, ProjectWorker.id).where(ProjectWorker.project_id == project_id)).all())
    fresh, changed = [], []
    for r in rows:
        values = {"team_id": r.team_id, "company_id": r.company_id, "trade": r.trade,
                  "daily_rate_fen": r.daily_rate_fen, "entry_date": r.entry_date}
        worker_id = worker_ids[r.id_hash]
        if worker_id in enrolled:
            changed.append({"id": enrolled[worker_id], **values})
        else:
            fresh.append({"project_id": project_id, "worker_id": worker_id, "status": EngagementStatus.ACTIVE,
                          "created_at": now, **values})
    if fresh:
        session.execute(insert(ProjectWorker), fresh)
    if changed:
        session.execute(update(ProjectWorker), changed)

    _write_cards(session, cipher, [r for r in rows if r.card_number], worker_ids, now)
    return len(fresh), len(changed)


def _write_cards(session: Session, cipher: PiiCipher, rows: list[_Row], worker_ids: dict[str, int],
                 now: datetime) -> None:
    current: dict[int, tuple[int, str, str]] = {}  # worker id -> (card id, hash, bank name)
    for chunk in _chunks([worker_ids[r.id_hash] for r in rows]):
        for card_id, worker_id, digest, bank_name in session.execute(
            select(BankCard.id, BankCard.worker_id, BankCard.card_number_hash, BankCard.bank_name)
            .where(BankCard.worker_id.in_(chunk), BankCard.is_current.is_(True))
        ):
            current[worker_id] = (card_id, digest, bank_name)
    retire, rename, add = [], [], []
    for r in rows:
        worker_id = worker_ids[r.id_hash]
        card = current.get(worker_id)
        if card is not None and card[1] == r.card_hash:
            if card[2] != r.bank_name:
                rename.append({"id": card[0], "bank_name": r.bank_name})
            continue
        if card is not None:
            retire.append({"id": card[0], "is_current": False, "replaced_at": now})
        add.append({
            "worker_id": worker_id, "bank_name": r.bank_name,
            "card_number_enc": cipher.encrypt(r.card_number, CARD_NUMBER), "card_number_hash": r.card_hash,
            "last4": r.card_number[-4:], "is_current": True, "created_at": now,
        })
    for batch in (retire, rename):
        if batch:
            session.execute(update(BankCard), batch)
    if add:
        session.execute(insert(BankCard), add)


# ---- cell values ------------------------------------------------------------------------------

_INDEX = {key: i for i, (key, _t) in enumerate(COLUMNS)}
_ORDER = {key: i + 1 for i, (key, _t) in enumerate(COLUMNS)}


def _column_order(column: str) -> int:
    return _ORDER.get(column, 0)


def _text(value) -> str:
    """A cell as the text a person typed: Excel keeps whole numbers as floats, dates as datetimes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _date(value) -> Optional[date]:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _masked(column: str, value: str) -> str:
    if not value:
        return ""
    if column == "id_number":
        return mask_id_number(value)
    if column == "card_number":
        return mask_card_number(value)
    if column == "phone":
        return mask_phone(value)
    return value[:50]


def _chunks(values: Iterable, size: int = _CHUNK) -> Iterator[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]
