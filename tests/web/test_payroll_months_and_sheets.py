"""The payroll pages for issue 8 points 3 and 6: a month that has not begun is refused with its own
message; once the wage table is accepted, the sign sheet (.docx) and the accepted table (.xlsx) can
be downloaded by the accounts that may see the run, and by nobody else."""
from __future__ import annotations

import io
import zipfile
from urllib.parse import unquote

from docx import Document
from sqlalchemy import insert, select

from domain import registration as reg
from domain import wage_table as wt
from domain.calendar import local_today
from domain.models import RegistrationApplication, WageLine, WageLineStatus, WageRun, Worker
from tests.helpers.web_app import create_registration, enter_session
from tests.helpers.wage_scenario import MONTH, create_payroll_specialist, open_wage_run
from tests.helpers.web_app import as_english, page_text

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _next_month() -> str:
    today = local_today()
    return f"{today.year + today.month // 12:04d}-{today.month % 12 + 1:02d}"


def test_a_month_that_has_not_begun_is_refused_on_the_page(client, services, platform, bridge):
    as_english(client, services, "payroll_a")
    for month in (_next_month(), "2999-01"):
        response = client.post("/payroll/open", data={"month": month})
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "This month has not begun yet: a wage run can be opened for the current month or an earlier one." in page
    with services.Session() as db:
        assert db.scalar(select(WageRun.id).where(WageRun.project_id == platform["project_id"])) is None
    assert bridge.client.started == []
    # in Chinese, the reader's own words
    client.get("/lang/zh_CN")
    page = client.post("/payroll/open", data={"month": _next_month()}).get_data(as_text=True)
    assert "该月份尚未开始" in page


def _accept_table(services, run_id: int) -> bytes:
    """The prefilled table as step 1 leaves it accepted (the activity's own writes, without the process)."""
    with services.Session.begin() as db:
        run = db.get(WageRun, run_id)
        table = wt.prefill_xlsx(db, services.cipher, run.project_id, run.month)
        parsed = wt.parse_upload(db, run.project_id, table, month=run.month)
        assert parsed.ok, parsed.errors
        stored = services.blobs.store(db, table, XLSX, f"wage-table-{run_id}.xlsx")
        db.execute(insert(WageLine.__table__), [
            dict(run_id=run_id, seq=x.seq, worker_id=x.worker_id, days=x.days, hours_x10=x.hours_x10,
                 gross_fen=x.gross_fen, net_fen=x.net_fen, remark="", back_pay_month=x.back_pay_month,
                 status=WageLineStatus.PENDING) for x in parsed.lines])
        run.table_file_id, run.table_sha256, run.step = stored.id, stored.sha256, "signed_sheet"
        run.line_count, run.total_fen = len(parsed.lines), parsed.total_fen
    return table


def _other_projects_specialist(services) -> None:
    case = create_registration(services)
    with services.Session.begin() as db:
        project, _account, _pw = reg.approve(db, services.cipher, db.get(RegistrationApplication, case["id"]))
        db.flush()
        other_id = project.id
    create_payroll_specialist(services, "payroll_other", other_id)


def test_the_sign_sheet_and_the_accepted_table_are_downloaded_once_the_table_is_accepted(
        client, services, platform, bridge):
    run = open_wage_run(services, platform)
    urls = (f"/payroll/run/{run['id']}/sign-sheet.docx", f"/payroll/run/{run['id']}/accepted-table.xlsx")
    as_english(client, services, "payroll_a")
    page = page_text(client, f"/payroll/run/{run['id']}")
    assert 'id="download-sign-sheet"' not in page and 'id="download-accepted-table"' not in page
    assert [client.get(url).status_code for url in urls] == [404, 404]  # nothing accepted yet

    table = _accept_table(services, run["id"])
    page = page_text(client, f"/payroll/run/{run['id']}")
    assert f'href="{urls[0]}"' in page and f'href="{urls[1]}"' in page

    sheet = client.get(urls[0])
    assert sheet.status_code == 200 and sheet.mimetype == DOCX
    assert "attachment" in sheet.headers["Content-Disposition"]
    assert f"Wage sign sheet {MONTH}.docx" in unquote(sheet.headers["Content-Disposition"])
    document = Document(io.BytesIO(sheet.get_data()))
    rows = document.tables[0].rows
    with services.Session() as db:
        lines = db.execute(select(WageLine.seq, Worker.name, Worker.id_number_enc).join(Worker)
                           .where(WageLine.run_id == run["id"]).order_by(WageLine.seq)).all()
    assert len(rows) == 1 + len(lines) + 1 == 6
    assert [rows[i + 1].cells[1].text for i in range(len(lines))] == [name for _seq, name, _enc in lines]
    xml = zipfile.ZipFile(io.BytesIO(sheet.get_data())).read("word/document.xml").decode("utf-8")
    for _seq, _name, enc in lines:
        assert services.cipher.decrypt(enc, "id_number") not in xml

    again = client.get(urls[1])
    assert again.status_code == 200 and again.mimetype == XLSX and again.get_data() == table
    assert f"Accepted wage table {MONTH}.xlsx" in unquote(again.headers["Content-Disposition"])

    # in Chinese, the file names are Chinese too
    client.get("/lang/zh_CN")
    disposition = unquote(client.get(urls[0]).headers["Content-Disposition"])
    assert f"工资签字表-{MONTH}.docx" in disposition
    assert "农民工工资发放签字表" in zipfile.ZipFile(io.BytesIO(client.get(urls[0]).get_data())).read(
        "word/document.xml").decode("utf-8")

    # another project's payroll specialist: as if the run did not exist
    _other_projects_specialist(services)
    other = client.application.test_client()
    enter_session(other, services, "payroll_other")
    assert [other.get(url).status_code for url in urls] == [404, 404]


def test_the_line_table_shows_the_month_a_back_pay_line_pays(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    _accept_table(services, run["id"])
    with services.Session.begin() as db:
        line = db.scalar(select(WageLine).where(WageLine.run_id == run["id"], WageLine.seq == 2))
        line.back_pay_month, line_id = "2026-09", line.id
    as_english(client, services, "payroll_a")
    page = page_text(client, f"/payroll/run/{run['id']}")
    assert page.count('class="back-pay"') == 1
    row = page.split(f'data-line-id="{line_id}"')[1].split("</tr>")[0]
    assert 'data-back-pay="2026-09"' in row and "back pay for 2026-09" in row
    client.get("/lang/zh_CN")
    assert "补发 2026-09" in page_text(client, f"/payroll/run/{run['id']}")
    sheet = Document(io.BytesIO(client.get(f"/payroll/run/{run['id']}/sign-sheet.docx").get_data()))
    assert sheet.tables[0].rows[2].cells[1].text.endswith("\n补发2026-09")


def test_the_month_problems_of_a_refused_table_read_as_words_on_the_page(client, services, platform, bridge):
    from openpyxl import load_workbook

    run = open_wage_run(services, platform)
    with services.Session() as db:
        prefilled = wt.prefill_xlsx(db, services.cipher, platform["project_id"], MONTH)
    wb = load_workbook(io.BytesIO(prefilled))
    ws = wb.worksheets[0]
    ws.cell(2, wt.BACK_PAY_COLUMN + 1, "2026-10")  # the run's own month
    ws.cell(3, wt.BACK_PAY_COLUMN + 1, "10月")
    ws.cell(4, wt.BACK_PAY_COLUMN + 1, "2026-08")  # nobody worked in August
    buf = io.BytesIO()
    wb.save(buf)
    with services.Session.begin() as db:  # what the activity stores when it refuses the table
        parsed = wt.parse_upload(db, platform["project_id"], buf.getvalue(), month=MONTH)
        services.blobs.store(db, wt.error_report_xlsx(parsed.errors), XLSX, f"wage-table-errors-{run['id']}.xlsx")
    assert [(e.row, e.code) for e in parsed.errors] == [
        (2, "back_pay_not_earlier"), (3, "bad_back_pay_month"), (4, "no_attendance_in_back_pay_month")]
    enter_session(client, services, "payroll_a")
    page = page_text(client, f"/payroll/run/{run['id']}")
    for words in ("补发月份须早于本次工资发放的月份。", "补发月份须按 YYYY-MM 格式填写。", "该工人在补发月份没有考勤。"):
        assert words in page
    assert not any(e.code in page for e in parsed.errors)
