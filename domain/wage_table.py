"""The wage table (PAY-4 step 1): prefilled .xlsx from attendance, edited, uploaded, validated.

The prefilled table is written by XlsxWriter (constant-memory mode); uploads are read by openpyxl.
Rows identify workers by the engagement number (`ProjectWorker.id`) printed in the prefilled
table, with the name as a cross-check. The upload is all or nothing: any bad row rejects the file
and the caller gets a row-level error report; masked values only, never a full ID number.

Months that can be paid (issue 8 point 3, docs/wage-run.md): a table for a month later than the
current one is refused (`future_month`). A row pays the run's month, and its worker must have
attendance in that month (`no_attendance`), unless its back-pay column (补发月份, "YYYY-MM") names
the earlier month it pays: that month must be well-formed (`bad_back_pay_month`), earlier than the
run's (`back_pay_not_earlier`) and a month the worker has attendance in
(`no_attendance_in_back_pay_month`). The back-pay column is the template's 11th; a table saved
before it existed (ten columns) is still read, all its rows paying the run's month. A worker may
appear once per month paid: once for the run's month and once per back-pay month.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils.exceptions import IllegalCharacterError
from sqlalchemy import select
from sqlalchemy.orm import Session
import xlsxwriter

from .attendance import monthly_summary
from .calendar import local_today, month_of
from .errors import CodedError
from .models import ProjectWorker, Worker
from .money import MoneyError, parse_wage_cell, yuan_decimal, yuan_number
from .pii import PiiCipher
from .rules import mask_id_number
from .uploads import is_size_refusal, xlsx_refusal

HEADERS = ["序号", "人员编号", "姓名", "身份证号", "出勤天数", "工时", "日工资(元)", "应发(元)", "实发(元)", "备注"]
# optional 11th column (tables saved before it existed have ten): the earlier month a row pays
BACK_PAY_HEADER = "补发月份"
TEMPLATE_HEADERS = HEADERS + [BACK_PAY_HEADER]
BACK_PAY_COLUMN = len(HEADERS)  # 0-based index of 补发月份
TOTAL_LABEL = "合计"
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
# a month's net wage above this is almost certainly a typing error (500,000 yuan)
NET_CAP_FEN = 50_000_000


class WageTableError(CodedError, ValueError):
    """A refused cell; `code` (also the message) names the problem."""


@dataclass
class TableRowError:
    row: int  # spreadsheet row number (1-based, header is row 1)
    column: str
    code: str
    value: str = ""


@dataclass
class TableLine:
    seq: int
    project_worker_id: int
    worker_id: int
    days: int
    hours_x10: int
    gross_fen: int
    net_fen: int
    remark: str = ""
    back_pay_month: str | None = None  # back pay (补发): the earlier month "YYYY-MM" the line pays


@dataclass
class TableResult:
    lines: list[TableLine] = field(default_factory=list)
    errors: list[TableRowError] = field(default_factory=list)
    total_fen: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


# the bank file's remark of a back-pay line names the month it pays (the wage-file protocol's free-text remark)
BACK_PAY_REMARK = "补发{month}工资"
REMARK_LEN = 200


def bank_remark(remark: str, back_pay_month: str | None) -> str:
    """The remark a line carries in the bank file: its own, after the back-pay month when it has one."""
    if not back_pay_month:
        return remark
    marked = BACK_PAY_REMARK.format(month=back_pay_month)
    return (f"{marked}；{remark}" if remark else marked)[:REMARK_LEN]


def prefill_xlsx(session: Session, cipher: PiiCipher, project_id: int, month: str) -> bytes:
    """The month's table: every active worker with attendance, days, hours and daily rate."""
    summary = {row.worker_id: row for row in monthly_summary(session, project_id, month)}
    pw, worker = ProjectWorker.__table__, Worker.__table__  # plain rows: one per worker, thousands of them
    engagements = session.execute(
        select(pw.c.id, pw.c.worker_id, pw.c.daily_rate_fen, worker.c.name, worker.c.id_number_enc)
        .join(worker, worker.c.id == pw.c.worker_id)
        .where(pw.c.project_id == project_id).order_by(pw.c.id)
    ).all()
    rows = []
    seq, total = 0, 0
    for engagement_id, worker_id, rate, name, id_number_enc in engagements:
        att = summary.get(worker_id)
        if att is None or att.days == 0:
            continue
        seq += 1
        gross = rate * att.days
        total += gross
        masked = mask_id_number(cipher.decrypt(id_number_enc, "id_number"))
        rows.append((seq, engagement_id, name, masked, att.days, att.hours_x10 / 10,
                     yuan_number(rate), yuan_number(gross), yuan_number(gross)))
    rows.append((TOTAL_LABEL, None, None, None, None, None, None, yuan_number(total), yuan_number(total)))
    return _sheet_xlsx("工资表", TEMPLATE_HEADERS, rows)


def _sheet_xlsx(title: str, header: list[str], rows: list[tuple]) -> bytes:
    """One-sheet .xlsx written by XlsxWriter in constant-memory mode (rows go out as they are
    written, strings inline). Numbers (int, float) are number cells; text is always a string cell,
    never a formula or a link, whatever its first character; None or "" leaves the cell empty.
    Text with characters a worksheet cannot hold is refused (IllegalCharacterError), as openpyxl
    refuses it, rather than written escaped."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                   "strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet(title)
    for number, row in enumerate([header, *rows]):
        for column, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(number, column, value)
            else:
                value = str(value)
                if ILLEGAL_CHARACTERS_RE.search(value):
                    raise IllegalCharacterError(f"{value!r} cannot be used in worksheets.")
                ws.write_string(number, column, value)
    wb.close()
    return out.getvalue()


def parse_upload(session: Session, project_id: int, data: bytes, month: str | None = None,
                 today: date | None = None) -> TableResult:
    """Validate an uploaded wage table completely; nothing is written here.

    `month` is the run's month: the month rules (future month, attendance, back pay) are checked
    against it and `today` (else the clock, China Standard Time). Without it only the table's own
    form is checked: `verify-run` re-reads a table that was accepted under the rules of its day.
    """
    result = TableResult()
    opened = _open_rows(data, month, today)
    if isinstance(opened, TableRowError):
        result.errors.append(opened)
        return result
    rows, has_back_pay = opened
    attended = _Attendance(session, project_id) if month is not None else None
    engagements = _engagements(session, project_id)
    seen: set[tuple[int, str | None]] = set()
    declared_total = None
    total_row, last_row = 0, 1  # the totals row's number; the last non-empty row's
    for number, row in enumerate(rows, start=2):
        row = list(row) + [None] * (len(TEMPLATE_HEADERS) - len(row))
        if not has_back_pay:
            row[BACK_PAY_COLUMN] = None  # an unnamed 11th column is not the back-pay month
        if all(c is None or str(c).strip() == "" for c in row):
            continue
        last_row = number
        if str(row[0]).strip() == TOTAL_LABEL:
            total_row = number
            try:
                declared_total = parse_wage_cell(row[8])
            except MoneyError as exc:
                result.errors.append(TableRowError(number, HEADERS[8], str(exc)))
            continue
        if len(result.lines) + len(result.errors) >= MAX_ROWS:
            result.errors.append(TableRowError(number, "file", "too_many_rows"))
            break
        _parse_row(number, row, engagements, seen, result, month, attended)
    _check_total(result, declared_total, total_row, last_row)
    return result


def _open_rows(data: bytes, month: str | None, today: date | None) -> tuple | TableRowError:
    """(the rows after the header, whether the back-pay column is there), or the file's refusal."""
    if month is not None and month > month_of(today or local_today()):
        return TableRowError(0, "file", "future_month", month)
    refused = xlsx_refusal(data, MAX_BYTES)  # SEC-2: size, zip bomb, entry names, OOXML, before openpyxl
    if refused:
        return TableRowError(0, "file", "too_large" if is_size_refusal(refused) else "not_xlsx")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable upload is the same user error
        return TableRowError(0, "file", "not_xlsx")
    rows = wb.worksheets[0].iter_rows(values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
    if header[: len(HEADERS)] != HEADERS:
        return TableRowError(1, "header", "bad_header")
    return rows, len(header) > BACK_PAY_COLUMN and header[BACK_PAY_COLUMN] == BACK_PAY_HEADER


def _engagements(session: Session, project_id: int) -> dict[int, tuple[int, str, str]]:
    """The project's engagements: id → (worker id, status, worker's name)."""
    pw, worker = ProjectWorker.__table__, Worker.__table__  # plain rows: one per worker, thousands of them
    return {
        pw_id: (worker_id, status, name)
        for pw_id, worker_id, status, name in session.execute(
            select(pw.c.id, pw.c.worker_id, pw.c.status, worker.c.name).join(worker, worker.c.id == pw.c.worker_id)
            .where(pw.c.project_id == project_id))
    }


def _check_total(result: TableResult, declared_total: int | None, total_row: int, last_row: int) -> None:
    """The totals row must be there and, when every row is good, agree with the lines' sum."""
    if declared_total is None and not total_row:  # where the totals row should have been: after the last row
        result.errors.append(TableRowError(last_row + 1, TOTAL_LABEL, "missing_total"))
    elif declared_total is not None and not result.errors and declared_total != result.total_fen:
        result.errors.append(TableRowError(total_row, TOTAL_LABEL, "total_mismatch", str(yuan_decimal(declared_total))))
    if not result.lines and not result.errors:
        result.errors.append(TableRowError(0, "file", "empty"))


class _Attendance:
    """Who has attendance in a month (at least one day), read once per month asked about."""

    def __init__(self, session: Session, project_id: int):
        self.session, self.project_id = session, project_id
        self._months: dict[str, set[int]] = {}

    def workers(self, month: str) -> set[int]:
        if month not in self._months:
            self._months[month] = {row.worker_id for row in monthly_summary(self.session, self.project_id, month)
                                   if row.days > 0}
        return self._months[month]


def _month_cell(value) -> str | None:
    """A back-pay cell as "YYYY-MM": text, or a date (Excel turns a typed 2026-10 into one); None
    when the cell is not a month."""
    if isinstance(value, (datetime, date)):
        return month_of(value)
    text = str(value).strip()
    if len(text) == 7 and text[4] == "-" and (text[:4] + text[5:]).isdigit() and 1 <= int(text[5:]) <= 12:
        return text
    return None


def _parse_row(number: int, row: list, engagements: dict, seen: set, result: TableResult,
               month: str | None = None, attended: _Attendance | None = None) -> None:
    errors_before = len(result.errors)

    def err(col: int, code: str, value: str = "") -> None:
        result.errors.append(TableRowError(number, TEMPLATE_HEADERS[col], code, value))

    try:
        pw_id = int(str(row[1]).strip())
    except (TypeError, ValueError):
        err(1, "unknown_worker", str(row[1] or ""))
        return
    found = engagements.get(pw_id)
    if found is None:
        err(1, "unknown_worker", str(pw_id))
        return
    worker_id, status, name = found
    if (str(row[2] or "").strip()) != name:
        err(2, "name_mismatch", str(row[2] or ""))
    back_pay = _month_paid(row[BACK_PAY_COLUMN], worker_id, month, attended, err)
    if (pw_id, back_pay) in seen:
        err(1, "duplicate_worker", str(pw_id))
    seen.add((pw_id, back_pay))
    if status == "exited":
        err(1, "not_on_project", str(pw_id))
    days, hours_x10 = _days_and_hours(row, err)
    amounts = _amounts(row, err)
    if len(result.errors) > errors_before:
        return
    gross, net = amounts
    result.lines.append(TableLine(seq=len(result.lines) + 1, project_worker_id=pw_id, worker_id=worker_id,
                                  days=days, hours_x10=hours_x10, gross_fen=gross, net_fen=net,
                                  remark=str(row[9] or "")[:200], back_pay_month=back_pay))
    result.total_fen += net


def _month_paid(raw, worker_id: int, month: str | None, attended: _Attendance | None, err) -> str | None:
    """The row's back-pay month (None: it pays the run's month), checked against the worker's attendance."""
    back_pay = None
    if raw is not None and str(raw).strip() != "":
        back_pay = _month_cell(raw)
        if back_pay is None:
            err(BACK_PAY_COLUMN, "bad_back_pay_month", str(raw))
        elif month is not None and back_pay >= month:
            err(BACK_PAY_COLUMN, "back_pay_not_earlier", back_pay)
        elif attended is not None and worker_id not in attended.workers(back_pay):
            err(BACK_PAY_COLUMN, "no_attendance_in_back_pay_month", back_pay)
    elif attended is not None and worker_id not in attended.workers(month):
        err(4, "no_attendance", month)
    return back_pay


def _days_and_hours(row: list, err) -> tuple[int, int]:
    """Attendance days (0 to 31) and hours in tenths (at most 31 × 24 h); 0 where refused."""
    try:
        days = int(Decimal(str(row[4] if row[4] is not None else 0)))
        if not 0 <= days <= 31:
            raise ValueError
    except (ValueError, InvalidOperation):
        err(4, "bad_days", str(row[4]))
        days = 0
    try:
        hours_x10 = int(Decimal(str(row[5] if row[5] is not None else 0)) * 10)
        if not 0 <= hours_x10 <= 31 * 24 * 10:
            raise ValueError
    except (ValueError, InvalidOperation):
        err(5, "bad_hours", str(row[5]))
        hours_x10 = 0
    return days, hours_x10


def _amounts(row: list, err) -> list[int]:
    """[gross, net] in fen (fewer when a cell is refused); a net above the gross is refused too."""
    amounts = []
    for col in (7, 8):
        try:
            fen = parse_wage_cell(row[col])
            if fen < 0:
                raise WageTableError("negative")
            if fen > NET_CAP_FEN:
                raise WageTableError("over_cap")
            if col == 8 and fen == 0:  # the bank pays positive amounts only: leave the row out instead
                raise WageTableError("zero_net")
            amounts.append(fen)
        except (MoneyError, WageTableError) as exc:
            err(col, str(exc), str(row[col]))
    if len(amounts) == 2 and amounts[1] > amounts[0]:
        err(8, "net_above_gross", str(row[8]))
    return amounts


REPORT_SHEET = "错误报告"
REPORT_HEADER = ["行号", "列", "错误", "代码", "值"]


def error_report_xlsx(errors: list[TableRowError], messages: dict[str, str] | None = None) -> bytes:
    """The stored record of a refused table: row, column, code and value of each problem. The web
    shows it to the reader in the reader's language (`readable_report_xlsx`)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(REPORT_SHEET)
    ws.append(REPORT_HEADER)
    for e in errors:
        ws.append([e.row or "", e.column, (messages or {}).get(e.code, e.code), e.code, e.value])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read_error_report(data: bytes) -> list[TableRowError]:
    """The problems of a report written by `error_report_xlsx`; ValueError when it is not one."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(c) if c is not None else "" for c in next(rows, ())]
    except Exception as exc:  # noqa: BLE001 - any unreadable report is the same problem
        raise ValueError("not an error report") from exc
    if header[: len(REPORT_HEADER)] != REPORT_HEADER:
        raise ValueError("not an error report")
    out = []
    for row in rows:
        row = list(row) + [None] * (len(REPORT_HEADER) - len(row))
        number = int(row[0]) if row[0] not in (None, "") else 0
        out.append(TableRowError(number, str(row[1] or ""), str(row[3] or ""),
                                 "" if row[4] is None else str(row[4])))
    return out


def readable_report_xlsx(errors: list[TableRowError], header: list[str], describe, column_name) -> bytes:
    """The report for a person: row number, column, what is wrong (`describe(error)`), the value
    found; no codes. `header` holds the four column titles in the reader's language."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(REPORT_SHEET)
    ws.append(header)
    for e in errors:
        ws.append([e.row or "", column_name(e.column), describe(e), _safe_cell(e.value)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _safe_cell(value: str) -> str:
    value = ILLEGAL_CHARACTERS_RE.sub("", value or "")
    return "'" + value if value.startswith("=") else value  # openpyxl would write it as a formula
