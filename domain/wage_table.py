"""The wage table (PAY-4 step 1): prefilled .xlsx from attendance, edited, uploaded, validated.

Rows identify workers by the engagement number (`ProjectWorker.id`) printed in the prefilled
table, with the name as a cross-check. The upload is all or nothing: any bad row rejects the file
and the caller gets a row-level error report; masked values only, never a full ID number.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from .attendance import monthly_summary
from .models import ProjectWorker, Worker
from .pii import PiiCipher
from .rules import mask_id_number
from .uploads import is_size_refusal, xlsx_refusal

HEADERS = ["序号", "人员编号", "姓名", "身份证号", "出勤天数", "工时", "日工资(元)", "应发(元)", "实发(元)", "备注"]
TOTAL_LABEL = "合计"
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
# a month's net wage above this is almost certainly a typing error (500,000 yuan)
NET_CAP_FEN = 50_000_000


class WageTableError(ValueError):
    pass


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


@dataclass
class TableResult:
    lines: list[TableLine] = field(default_factory=list)
    errors: list[TableRowError] = field(default_factory=list)
    total_fen: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def yuan_cell_to_fen(value) -> int:
    """A money cell (number or text) in yuan → fen; at most two decimals."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise WageTableError("required")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise WageTableError("not_a_number") from None
    if not amount.is_finite():
        raise WageTableError("not_a_number")
    if amount != amount.quantize(Decimal("0.01")):
        raise WageTableError("too_many_decimals")
    return int(amount * 100)


def _fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def prefill_xlsx(session: Session, cipher: PiiCipher, project_id: int, month: str) -> bytes:
    """The month's table: every active worker with attendance, days, hours and daily rate."""
    summary = {row.worker_id: row for row in monthly_summary(session, project_id, month)}
    engagements = session.execute(
        select(ProjectWorker, Worker).join(Worker, Worker.id == ProjectWorker.worker_id)
        .where(ProjectWorker.project_id == project_id).order_by(ProjectWorker.id)
    ).all()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("工资表")
    ws.append(HEADERS)
    seq, total = 0, 0
    for engagement, worker in engagements:
        att = summary.get(worker.id)
        if att is None or att.days == 0:
            continue
        seq += 1
        gross = engagement.daily_rate_fen * att.days
        total += gross
        masked = mask_id_number(cipher.decrypt(worker.id_number_enc, "id_number"))
        ws.append([seq, engagement.id, worker.name, masked, att.days, att.hours_x10 / 10,
                   _fen_to_yuan(engagement.daily_rate_fen), _fen_to_yuan(gross), _fen_to_yuan(gross), ""])
    ws.append([TOTAL_LABEL, None, None, None, None, None, None, _fen_to_yuan(total), _fen_to_yuan(total), None])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parse_upload(session: Session, project_id: int, data: bytes) -> TableResult:
    """Validate an uploaded wage table completely; nothing is written here."""
    result = TableResult()
    refused = xlsx_refusal(data, MAX_BYTES)  # SEC-2: size, zip bomb, entry names, OOXML, before openpyxl
    if refused:
        result.errors.append(TableRowError(0, "file", "too_large" if is_size_refusal(refused) else "not_xlsx"))
        return result
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable upload is the same user error
        result.errors.append(TableRowError(0, "file", "not_xlsx"))
        return result
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
    if header[: len(HEADERS)] != HEADERS:
        result.errors.append(TableRowError(1, "header", "bad_header"))
        return result

    engagements = {
        pw.id: (pw, name)
        for pw, name in session.execute(
            select(ProjectWorker, Worker.name).join(Worker, Worker.id == ProjectWorker.worker_id)
            .where(ProjectWorker.project_id == project_id))
    }
    seen: set[int] = set()
    declared_total = None
    for number, row in enumerate(rows, start=2):
        row = list(row) + [None] * (len(HEADERS) - len(row))
        if all(c is None or str(c).strip() == "" for c in row):
            continue
        if str(row[0]).strip() == TOTAL_LABEL:
            try:
                declared_total = yuan_cell_to_fen(row[8])
            except WageTableError as exc:
                result.errors.append(TableRowError(number, HEADERS[8], str(exc)))
            continue
        if len(result.lines) + len(result.errors) >= MAX_ROWS:
            result.errors.append(TableRowError(number, "file", "too_many_rows"))
            break
        _parse_row(number, row, engagements, seen, result)
    if declared_total is None:
        result.errors.append(TableRowError(0, TOTAL_LABEL, "missing_total"))
    elif not result.errors and declared_total != result.total_fen:
        result.errors.append(TableRowError(0, TOTAL_LABEL, "total_mismatch", str(_fen_to_yuan(declared_total))))
    if not result.lines and not result.errors:
        result.errors.append(TableRowError(0, "file", "empty"))
    return result


def _parse_row(number: int, row: list, engagements: dict, seen: set, result: TableResult) -> None:
    errors_before = len(result.errors)

    def err(col: int, code: str, value: str = "") -> None:
        result.errors.append(TableRowError(number, HEADERS[col], code, value))

    try:
        pw_id = int(str(row[1]).strip())
    except (TypeError, ValueError):
        err(1, "unknown_worker", str(row[1] or ""))
        return
    found = engagements.get(pw_id)
    if found is None:
        err(1, "unknown_worker", str(pw_id))
        return
    engagement, name = found
    if (str(row[2] or "").strip()) != name:
        err(2, "name_mismatch", str(row[2] or ""))
    if pw_id in seen:
        err(1, "duplicate_worker", str(pw_id))
    seen.add(pw_id)
    if engagement.status == "exited":
        err(1, "not_on_project", str(pw_id))
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
    amounts = []
    for col in (7, 8):
        try:
            fen = yuan_cell_to_fen(row[col])
            if fen < 0:
                raise WageTableError("negative")
            if fen > NET_CAP_FEN:
                raise WageTableError("over_cap")
            if col == 8 and fen == 0:  # the bank pays positive amounts only: leave the row out instead
                raise WageTableError("zero_net")
            amounts.append(fen)
        except WageTableError as exc:
            err(col, str(exc), str(row[col]))
    if len(amounts) == 2 and amounts[1] > amounts[0]:
        err(8, "net_above_gross", str(row[8]))
    if len(result.errors) > errors_before:
        return
    gross, net = amounts
    result.lines.append(TableLine(seq=len(result.lines) + 1, project_worker_id=pw_id, worker_id=engagement.worker_id,
                                  days=days, hours_x10=hours_x10, gross_fen=gross, net_fen=net,
                                  remark=str(row[9] or "")[:200]))
    result.total_fen += net


def error_report_xlsx(errors: list[TableRowError], messages: dict[str, str] | None = None) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误报告")
    ws.append(["行号", "列", "错误", "代码", "值"])
    for e in errors:
        ws.append([e.row or "", e.column, (messages or {}).get(e.code, e.code), e.code, e.value])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
