"""The wage table: prefill, edit with openpyxl, upload; one test per validation rule.

Every rejected upload names the exact spreadsheet row, column and code, and nothing is written.
"""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from domain import wage_table as wt
from domain.attendance import month_bounds
from domain.models import AuditLog, Project, ProjectWorker, Punch, StoredFile, WageLine, WageRun, Worker
from shiming.seed_workforce import seed_workforce
from tests.helpers.scan_samples import minimal_pdf

MONTH = "2026-10"
NET = wt.HEADERS[8]  # 实发(元)
GROSS = wt.HEADERS[7]  # 应发(元)


@pytest.fixture
def table(services):
    """(services, project_id, prefilled xlsx bytes) for the demo project with 8 seeded workers."""
    with services.Session() as session:
        project_id = session.scalar(select(Project.id).where(Project.code.like("P%")))
    seed_workforce(services, project_id, workers=8, month=MONTH)
    with services.Session() as session:
        data = wt.prefill_xlsx(session, services.cipher, project_id, MONTH)
    return services, project_id, data


def _counts(services) -> tuple:
    with services.Session() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (WageLine, WageRun, StoredFile, AuditLog))


def _edit(data: bytes, change) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    change(wb.worksheets[0])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(services, project_id, data) -> wt.TableResult:
    before = _counts(services)
    with services.Session() as session:
        result = wt.parse_upload(session, project_id, data)
        session.rollback()
    assert _counts(services) == before  # parse_upload writes nothing
    return result


def _errors(result) -> list[tuple]:
    return [(e.row, e.column, e.code) for e in result.errors]


def _worker_rows(ws) -> list[int]:
    return [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value not in (None, wt.TOTAL_LABEL)]


def _total_row(ws) -> int:
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == wt.TOTAL_LABEL)


def test_untouched_prefilled_table_parses_with_total_equal_to_sum(table):
    services, project_id, data = table
    result = _upload(services, project_id, data)
    assert result.ok, result.errors
    assert len(result.lines) == 8
    assert [line.seq for line in result.lines] == list(range(1, 9))
    assert result.total_fen == sum(line.net_fen for line in result.lines) > 0
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    declared = Decimal(str(ws.cell(_total_row(ws), 9).value))
    assert int(declared * 100) == result.total_fen
    with services.Session() as session:
        pw_ids = set(session.scalars(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id)))
    assert {line.project_worker_id for line in result.lines} == pw_ids


def test_prefilled_table_never_holds_a_full_id_number(table):
    services, project_id, data = table
    with services.Session() as session:
        ids = [services.cipher.decrypt(w.id_number_enc, "id_number") for w in session.scalars(select(Worker))]
    assert len(ids) >= 8
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    masked = [ws.cell(r, 4).value for r in _worker_rows(ws)]
    assert all("*" in m and len(m) == 18 for m in masked)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        raw = b"".join(zf.read(name) for name in zf.namelist()).decode("utf-8", "replace")
    for id_number in ids:
        assert not any(id_number in c for c in cells)
        assert id_number not in raw
        assert id_number[6:14] not in raw  # not even the birth date part


def test_unknown_worker(table):
    services, project_id, data = table
    data = _edit(data, lambda ws: ws.cell(4, 2, 999999))
    assert _errors(_upload(services, project_id, data)) == [(4, "人员编号", "unknown_worker")]
    data2 = _edit(data, lambda ws: ws.cell(4, 2, "abc"))
    assert _errors(_upload(services, project_id, data2)) == [(4, "人员编号", "unknown_worker")]


def test_duplicate_worker(table):
    services, project_id, data = table

    def dup(ws):
        for col in range(1, 11):  # row 6 becomes a copy of row 3 (same worker twice)
            ws.cell(6, col, ws.cell(3, col).value)
    assert _errors(_upload(services, project_id, _edit(data, dup))) == [(6, "人员编号", "duplicate_worker")]


def test_name_mismatch(table):
    services, project_id, data = table
    result = _upload(services, project_id, _edit(data, lambda ws: ws.cell(5, 3, "张冒名")))
    assert _errors(result) == [(5, "姓名", "name_mismatch")]
    assert result.errors[0].value == "张冒名"


def test_worker_not_on_the_project(table):
    services, project_id, data = table
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    pw_id = ws.cell(7, 2).value
    with services.Session.begin() as session:
        session.get(ProjectWorker, pw_id).status = "exited"
    assert _errors(_upload(services, project_id, data)) == [(7, "人员编号", "not_on_project")]


def test_negative_amount(table):
    services, project_id, data = table
    result = _upload(services, project_id, _edit(data, lambda ws: ws.cell(3, 9, -1)))
    assert _errors(result) == [(3, NET, "negative")]


def test_over_cap_amount(table):
    services, project_id, data = table
    over = Decimal(wt.NET_CAP_FEN + 1) / 100
    result = _upload(services, project_id, _edit(data, lambda ws: ws.cell(2, 9, over)))
    assert _errors(result) == [(2, NET, "over_cap")]
    # exactly the cap is fine as far as the cap goes (net above gross is the only complaint)
    at_cap = Decimal(wt.NET_CAP_FEN) / 100
    result = _upload(services, project_id, _edit(data, lambda ws: ws.cell(2, 9, at_cap)))
    assert _errors(result) == [(2, NET, "net_above_gross")]


def test_more_than_two_decimals(table):
    services, project_id, data = table
    assert _errors(_upload(services, project_id, _edit(data, lambda ws: ws.cell(8, 9, 12.345)))) == [
        (8, NET, "too_many_decimals")]
    assert _errors(_upload(services, project_id, _edit(data, lambda ws: ws.cell(8, 8, "100.001")))) == [
        (8, GROSS, "too_many_decimals")]


def test_net_above_gross(table):
    services, project_id, data = table

    def raise_net(ws):
        ws.cell(4, 9, Decimal(str(ws.cell(4, 8).value)) + Decimal("0.01"))
    assert _errors(_upload(services, project_id, _edit(data, raise_net))) == [(4, NET, "net_above_gross")]


def test_totals_row_mismatch(table):
    services, project_id, data = table

    rows = {}

    def off_by_a_fen(ws):
        r = rows["total"] = _total_row(ws)
        ws.cell(r, 9, Decimal(str(ws.cell(r, 9).value)) + Decimal("0.01"))
    result = _upload(services, project_id, _edit(data, off_by_a_fen))
    assert _errors(result) == [(rows["total"], wt.TOTAL_LABEL, "total_mismatch")]  # the totals row's number
    assert result.lines  # the rows themselves were fine


def test_missing_totals_row(table):
    services, project_id, data = table
    rows = {}

    def drop_total(ws):
        rows["total"] = _total_row(ws)
        ws.delete_rows(rows["total"])
    result = _upload(services, project_id, _edit(data, drop_total))
    # where the totals row should be: below the last line
    assert _errors(result) == [(rows["total"], wt.TOTAL_LABEL, "missing_total")]


def test_bad_header(table):
    services, project_id, data = table
    assert _errors(_upload(services, project_id, _edit(data, lambda ws: ws.cell(1, 9, "实发")))) == [
        (1, "header", "bad_header")]


def test_not_an_xlsx(table):
    services, project_id, _ = table
    assert _errors(_upload(services, project_id, minimal_pdf())) == [(0, "file", "not_xlsx")]
    assert _errors(_upload(services, project_id, b"")) == [(0, "file", "not_xlsx")]


def test_empty_table(table):
    services, project_id, data = table

    def only_totals(ws):
        ws.delete_rows(2, len(_worker_rows(ws)))
        r = _total_row(ws)
        ws.cell(r, 8, 0)
        ws.cell(r, 9, 0)
    assert _errors(_upload(services, project_id, _edit(data, only_totals))) == [(0, "file", "empty")]


def test_error_report_lists_the_errors(table):
    services, project_id, data = table

    def two_bad_rows(ws):
        ws.cell(3, 3, "张冒名")
        ws.cell(5, 9, -5)
    result = _upload(services, project_id, _edit(data, two_bad_rows))
    assert _errors(result) == [(3, "姓名", "name_mismatch"), (5, NET, "negative")]
    report = wt.error_report_xlsx(result.errors, {"negative": "金额为负"})
    rows = list(load_workbook(io.BytesIO(report)).worksheets[0].iter_rows(values_only=True))
    assert rows[0] == ("行号", "列", "错误", "代码", "值")
    assert rows[1][:4] == (3, "姓名", "name_mismatch", "name_mismatch")
    assert rows[1][4] == "张冒名"
    assert rows[2][:4] == (5, NET, "金额为负", "negative")
    assert len(rows) == 3
    # file-level errors (row 0) leave the row number blank
    report = wt.error_report_xlsx([wt.TableRowError(0, "file", "not_xlsx")])
    rows = list(load_workbook(io.BytesIO(report)).worksheets[0].iter_rows(values_only=True))
    assert rows[1][:4] == (None, "file", "not_xlsx", "not_xlsx")


def test_zero_net_amount(table):
    """A net of 0.00 cannot go to the bank (a wage file line pays a positive amount): leave the row out."""
    services, project_id, data = table
    assert _errors(_upload(services, project_id, _edit(data, lambda ws: ws.cell(6, 9, 0)))) == [(6, NET, "zero_net")]
    # a zero gross with a zero net is refused for the net only
    assert _errors(_upload(services, project_id, _edit(data, lambda ws: (ws.cell(6, 8, 0), ws.cell(6, 9, 0))))) == [
        (6, NET, "zero_net")]


def test_prefilled_cells_are_the_attendance_and_rates_in_both_openpyxl_modes(table):
    """XlsxWriter writes the sheet, openpyxl reads uploads: read it back in both openpyxl modes."""
    from domain.attendance import monthly_summary

    services, project_id, data = table
    with services.Session() as session:
        summary = {row.worker_id: row for row in monthly_summary(session, project_id, MONTH)}
        rates = {pw.id: (pw.worker_id, pw.daily_rate_fen) for pw in session.scalars(
            select(ProjectWorker).where(ProjectWorker.project_id == project_id))}
    for read_only in (False, True):
        wb = load_workbook(io.BytesIO(data), read_only=read_only)
        assert wb.sheetnames == ["工资表"]
        rows = [r for r in wb.worksheets[0].iter_rows(values_only=True)]
        assert list(rows[0]) == wt.TEMPLATE_HEADERS == wt.HEADERS + ["补发月份"]
        total = 0
        for seq, row in enumerate(rows[1:-1], start=1):
            worker_id, rate = rates[row[1]]
            att = summary[worker_id]
            gross = rate * att.days
            total += gross
            assert row[0] == seq and isinstance(row[0], int) and isinstance(row[1], int)
            assert row[4] == att.days and Decimal(str(row[5])) == Decimal(att.hours_x10) / 10
            assert [Decimal(str(v)) * 100 for v in row[6:9]] == [rate, gross, gross]
            assert row[9] is None and row[10] is None  # no remark, no back-pay month
        assert rows[-1][0] == wt.TOTAL_LABEL and Decimal(str(rows[-1][8])) * 100 == total
        # the sheet declares its size, so a read-only reader need not scan it first
        assert wb.worksheets[0].calculate_dimension() == f"A1:K{len(rows)}"


def test_sheet_text_is_always_text_and_escaped():
    data = wt._sheet_xlsx("表", ["a", "b", "c"], [("=1+1", " 前后有空格 ", "<&>\"'"), (1, 0.05, None),
                                                  ("http://x.example", "", 1234567.89)])
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [
        ["a", "b", "c"], ["=1+1", " 前后有空格 ", "<&>\"'"], [1, 0.05, None], ["http://x.example", None, 1234567.89]]
    assert ws.cell(2, 1).data_type == "s"  # a formula-looking name stays a string
    assert ws.cell(4, 1).hyperlink is None  # a link-looking text stays plain text
    assert ws.cell(3, 1).data_type == ws.cell(3, 2).data_type == "n"
    with pytest.raises(Exception):
        wt._sheet_xlsx("表", ["a"], [("bell\x07",)])


def test_prefilled_table_is_written_by_xlsxwriter_in_constant_memory_mode(table):
    """The library writes the sheet (no XML spliced into another library's output): inline
    strings only (no shared-strings part), as XlsxWriter's constant-memory mode writes them, and
    XlsxWriter's application name."""
    _services, _project_id, data = table
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode("utf-8")
        app = zf.read("docProps/app.xml").decode("utf-8")
    assert 't="inlineStr"' in sheet and "xl/sharedStrings.xml" not in zf.namelist()
    assert '<dimension ref="A1:K' in sheet
    assert "<Application>Microsoft Excel</Application>" in app and "Openpyxl" not in app  # XlsxWriter's, not openpyxl's


# --- months that can be paid: the run's month, or back pay (补发) for an earlier one ------------------

TODAY = date(2026, 11, 15)  # the run month 2026-10 is last month
BACK_PAY = wt.BACK_PAY_COLUMN + 1  # its 1-based spreadsheet column (K)


def _run_upload(services, project_id, data, month=MONTH, today=TODAY) -> wt.TableResult:
    before = _counts(services)
    with services.Session() as session:
        result = wt.parse_upload(session, project_id, data, month=month, today=today)
        session.rollback()
    assert _counts(services) == before
    return result


def _worker_of_row(services, data, row: int) -> int:
    pw_id = load_workbook(io.BytesIO(data)).worksheets[0].cell(row, 2).value
    with services.Session() as session:
        return session.get(ProjectWorker, pw_id).worker_id


def _forget_attendance(services, worker_id: int, month: str) -> None:
    start, end = month_bounds(month)
    with services.Session.begin() as session:
        session.execute(delete(Punch).where(Punch.worker_id == worker_id, Punch.punched_at >= start,
                                            Punch.punched_at < end))


def _attend(services, project_id: int, worker_id: int, month: str) -> None:
    start, _end = month_bounds(month)
    with services.Session.begin() as session:
        for hours in (1, 9):  # 09:00 and 17:00 local on the month's second day
            session.add(Punch(dedupe_key=f"test-{worker_id}-{month}-{hours}", project_id=project_id,
                              worker_id=worker_id, direction="in", punched_at=start + timedelta(days=1, hours=hours)))


def test_a_table_for_a_month_that_has_not_begun_is_refused(table):
    services, project_id, data = table
    result = _run_upload(services, project_id, data, month="2026-12", today=TODAY)
    assert _errors(result) == [(0, "file", "future_month")] and not result.lines
    # the current month may be paid, and so may the run's month once it has begun
    assert _run_upload(services, project_id, data, month=MONTH, today=date(2026, 10, 1)).ok


def test_a_row_for_a_worker_without_attendance_in_the_month_is_refused(table):
    services, project_id, data = table
    _forget_attendance(services, _worker_of_row(services, data, 3), MONTH)
    result = _run_upload(services, project_id, data)
    assert _errors(result) == [(3, "出勤天数", "no_attendance")]
    assert result.errors[0].value == MONTH


def test_a_back_pay_row_pays_an_earlier_month_the_worker_attended(table):
    services, project_id, data = table
    worker_id = _worker_of_row(services, data, 3)
    _forget_attendance(services, worker_id, MONTH)
    _attend(services, project_id, worker_id, "2026-09")
    result = _run_upload(services, project_id, _edit(data, lambda ws: ws.cell(3, BACK_PAY, "2026-09")))
    assert result.ok, result.errors
    assert [(line.worker_id, line.back_pay_month) for line in result.lines if line.back_pay_month] == [
        (worker_id, "2026-09")]
    assert sum(1 for line in result.lines if line.back_pay_month is None) == 7
    # Excel turns a typed 2026-09 into a date: that is the same month
    result = _run_upload(services, project_id, _edit(data, lambda ws: ws.cell(3, BACK_PAY, datetime(2026, 9, 1))))
    assert result.ok, result.errors
    assert result.lines[1].back_pay_month == "2026-09"


def test_a_worker_may_have_a_row_for_the_month_and_one_for_back_pay(table):
    services, project_id, data = table
    worker_id = _worker_of_row(services, data, 3)
    _attend(services, project_id, worker_id, "2026-08")

    def add_back_pay_row(ws):
        total = _total_row(ws)
        ws.insert_rows(total)
        for col in range(1, 11):
            ws.cell(total, col, ws.cell(3, col).value)
        ws.cell(total, BACK_PAY, "2026-08")
        net = Decimal(str(ws.cell(3, 9).value))
        for col in (8, 9):
            ws.cell(total + 1, col, Decimal(str(ws.cell(total + 1, col).value)) + net)
    result = _run_upload(services, project_id, _edit(data, add_back_pay_row))
    assert result.ok, result.errors
    assert [line.back_pay_month for line in result.lines if line.worker_id == worker_id] == [None, "2026-08"]
    # the same month twice is still the same worker twice
    twice = _edit(_edit(data, add_back_pay_row), lambda ws: setattr(ws.cell(_total_row(ws) - 1, BACK_PAY), "value", None))
    assert _errors(_run_upload(services, project_id, twice)) == [(10, "人员编号", "duplicate_worker")]


@pytest.mark.parametrize("value,code", [
    ("2026-10", "back_pay_not_earlier"),  # the run's own month is not back pay
    ("2026-11", "back_pay_not_earlier"),
    ("2026-13", "bad_back_pay_month"),
    ("2026/09", "bad_back_pay_month"),
    ("九月", "bad_back_pay_month"),
    (202609, "bad_back_pay_month"),
    ("2026-07", "no_attendance_in_back_pay_month"),  # nobody of the table worked in July
])
def test_a_back_pay_month_must_be_an_earlier_month_the_worker_attended(table, value, code):
    services, project_id, data = table
    result = _run_upload(services, project_id, _edit(data, lambda ws: ws.cell(4, BACK_PAY, value)))
    assert _errors(result) == [(4, "补发月份", code)]


def test_a_table_saved_before_the_back_pay_column_is_still_read(table):
    services, project_id, data = table
    old = _edit(data, lambda ws: ws.delete_cols(BACK_PAY))
    assert load_workbook(io.BytesIO(old)).worksheets[0].max_column == 10
    result = _run_upload(services, project_id, old)
    assert result.ok, result.errors
    assert len(result.lines) == 8 and all(line.back_pay_month is None for line in result.lines)
    # and its rows pay the run's month: a worker without attendance there is refused
    _forget_attendance(services, _worker_of_row(services, data, 5), MONTH)
    assert _errors(_run_upload(services, project_id, old)) == [(5, "出勤天数", "no_attendance")]
    # an 11th column under another heading is not a back-pay month
    other = _edit(old, lambda ws: (ws.cell(1, 11, "说明"), ws.cell(5, 11, "2026-09")))
    assert _errors(_run_upload(services, project_id, other)) == [(5, "出勤天数", "no_attendance")]


def test_the_bank_file_remark_of_a_back_pay_line_names_its_month():
    assert wt.bank_remark("", None) == ""
    assert wt.bank_remark("奖金", None) == "奖金"
    assert wt.bank_remark("", "2026-09") == "补发2026-09工资"
    assert wt.bank_remark("奖金", "2026-09") == "补发2026-09工资；奖金"
    assert len(wt.bank_remark("长" * 200, "2026-09")) == wt.REMARK_LEN
