"""Plain language wherever a person reads (issue 8 point 7): status labels with their own msgids,
the step list numbered once, bank reason codes translated, the wage-table error report in the
reader's words with row numbers, and the admin timeline in business words for every process."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from domain.processes.registration import Decision
from domain import audit, wage_table
from domain.models import Account, Project, WageLine, WageLineStatus
from domain.wage_run import open_run
from shiming.seed_workforce import seed_workforce
from tests.helpers.web_app import enter_session
from tests.helpers.wage_scenario import bound_wage_account, create_payroll_specialist, lines_after_statement
from tests.helpers.fakes import FakeExecution
from web.timeline import ACTIONS

ROOT = Path(__file__).parents[2]
MONTH = "2026-10"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def run(services) -> dict:
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))
    seed_workforce(services, project_id, workers=4, month=MONTH)
    bound_wage_account(services, project_id)
    create_payroll_specialist(services, "payroll_a", project_id, security_password="Anquan2026a")
    with services.Session.begin() as db:
        opened = open_run(db, project_id, MONTH, db.scalar(select(Account).where(Account.username == "payroll_a")))
        return {"id": opened.id, "workflow_id": opened.workflow_id, "project_id": project_id}


def _as(client, services, username: str, lang: str = "zh_CN"):
    enter_session(client, services, username)
    client.get(f"/lang/{lang}")
    return client


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


# --- status labels -------------------------------------------------------------------------------


def test_user_management_shows_account_statuses_not_a_project_status(client, services):
    page = _as(client, services, "admin").get("/accounts/").get_data(as_text=True)
    table = re.search(r'<table class="table" id="account-table">.*?</table>', page, re.S).group(0)
    assert "已启用" in table and "在建" not in table
    with services.Session.begin() as db:
        db.scalar(select(Account).where(Account.username == "reviewer2")).is_active = False
    page = client.get("/accounts/").get_data(as_text=True)
    row = re.search(r'<tr[^>]*data-username="reviewer2".*?</tr>', page, re.S).group(0)
    assert "已停用" in row
    # the project keeps its own word
    assert "在建" in _as(client.application.test_client(), services, "supervisor").get("/project/").get_data(as_text=True) \
        or "在建" in _as(client.application.test_client(), services, "enterprise").get("/project/").get_data(as_text=True)


def test_status_and_step_labels_have_their_own_message_contexts():
    from tests.helpers.catalog import extracted_messages

    from web import i18n

    contexts = {ctx for _msgid, ctx in extracted_messages() if ctx}
    assert {"account status", "project status", "task status", "wage run status", "wage line status",
            "wage run step"} <= contexts
    for table in (i18n.ACCOUNT_STATUS, i18n.PROJECT_STATUS, i18n.TASK_STATUS, i18n.RUN_STATUS, i18n.LINE_STATUS,
                  i18n.STEP_LABELS):
        for label in table.values():
            assert label._func.__name__ == "pgettext", label  # a msgid of its own kind, never shared


def test_the_step_list_is_numbered_once(client, services, run):
    page = _as(client, services, "payroll_a").get(f"/payroll/run/{run['id']}").get_data(as_text=True)
    steps = re.findall(r'<li data-step="[a-z_]+"[^>]*>([^<]*)</li>', re.search(
        r'<ol class="steps" id="run-steps">.*?</ol>', page, re.S).group(0))
    assert steps == ["工资表", "签字确认", "工资单加密文件", "对账"]


# --- bank reason codes -----------------------------------------------------------------------------


def test_bank_reason_codes_are_translated_on_the_reconcile_page_and_the_workers_lines(client, services, run):
    lines = lines_after_statement(services, run["id"])
    failed = next(line for line in lines if line["status"] == WageLineStatus.FAILED)
    with services.Session.begin() as db:
        db.get(WageLine, failed["id"]).failure_code = "CARD_CLOSED"
        db.get(WageLine, failed["id"]).failure_reason = "the card is closed"
    page = _as(client, services, "payroll_a").get(f"/payroll/run/{run['id']}?lines=failed").get_data(as_text=True)
    assert "工资卡已销户" in page and "CARD_CLOSED" not in page and "the card is closed" not in page
    english = _as(client.application.test_client(), services, "payroll_a", "en").get(
        f"/payroll/run/{run['id']}?lines=failed").get_data(as_text=True)
    assert "The payroll card is closed." in english and "发放失败" not in english
    # an unknown code still reads as words
    with services.Session.begin() as db:
        db.get(WageLine, failed["id"]).failure_code = "XYZ_42"
    page = client.get(f"/payroll/run/{run['id']}?lines=failed").get_data(as_text=True)
    assert "银行未能支付这笔工资" in page and "XYZ_42" not in page

    with services.Session() as db:
        from domain.models import ProjectWorker

        worker_id = db.get(WageLine, failed["id"]).worker_id
        pw_id = db.scalar(select(ProjectWorker.id).where(ProjectWorker.worker_id == worker_id,
                                                         ProjectWorker.project_id == run["project_id"]))
    page = _as(client.application.test_client(), services, "project").get(f"/project/workers/{pw_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "银行未能支付这笔工资" in html and "XYZ_42" not in html and "发放失败" in html


# --- the wage-table error report -------------------------------------------------------------------


def _table(services, run: dict, change) -> bytes:
    with services.Session() as db:
        data = wage_table.prefill_xlsx(db, services.cipher, run["project_id"], MONTH)
    wb = load_workbook(io.BytesIO(data))
    change(wb.worksheets[0])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _stored_report(services, run: dict, table: bytes) -> list:
    """What the process's activity stores when it refuses a table (activities/wage_run.py)."""
    with services.Session.begin() as db:
        parsed = wage_table.parse_upload(db, run["project_id"], table)
        assert not parsed.ok
        services.blobs.store(db, wage_table.error_report_xlsx(parsed.errors), XLSX,
                             f"wage-table-errors-{run['id']}.xlsx")
    return parsed.errors


def _download(client, run: dict) -> list[list]:
    response = client.get(f"/payroll/run/{run['id']}/errors.xlsx")
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    return [[c if c is not None else "" for c in row] for row in ws.iter_rows(values_only=True)]


def _total_row(ws) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == wage_table.TOTAL_LABEL)


def test_the_error_report_says_what_is_wrong_in_the_readers_language_with_row_numbers(client, services, run):
    def break_rows(ws):
        ws.cell(2, 3).value = "不是这个人"  # name of row 2
        ws.cell(3, 5).value = "四十"  # days of row 3

    errors = _stored_report(services, run, _table(services, run, break_rows))
    codes = {e.code for e in errors}
    assert codes == {"name_mismatch", "bad_days"}
    rows = _download(_as(client, services, "payroll_a"), run)
    assert rows[0] == ["行号", "列", "错误说明", "填写的值"]
    assert [2, "姓名", "姓名与该人员编号登记的姓名不一致。", "不是这个人"] in rows
    assert [3, "出勤天数", "出勤天数须为 0 至 31 之间的整数。", "四十"] in rows
    cells = {str(c) for row in rows for c in row}
    assert not cells & codes  # no code reaches the reader

    english = _download(_as(client.application.test_client(), services, "payroll_a", "en"), run)
    assert english[0] == ["Row", "Column", "What is wrong", "Value found"]
    assert [3, "出勤天数", "The days worked must be a whole number from 0 to 31.", "四十"] in english

    # the run page lists the problems in the same words
    page = client.get(f"/payroll/run/{run['id']}").get_data(as_text=True)
    problems = re.search(r'<table class="grid" id="table-problems">.*?</table>', page, re.S).group(0)
    assert '<tr data-row="3">' in problems and "出勤天数须为 0 至 31 之间的整数。" in problems
    assert "姓名与该人员编号登记的姓名不一致。" in problems and not any(code in problems for code in codes)


def test_the_totals_row_has_its_row_number_in_the_report(client, services, run):
    holder = {}

    def wrong_total(ws):
        holder["row"] = row = _total_row(ws)
        ws.cell(row, 9).value = 1.23

    _stored_report(services, run, _table(services, run, wrong_total))
    rows = _download(_as(client, services, "payroll_a"), run)
    assert rows[1] == [holder["row"], "合计", "合计行的金额与各行实发金额之和不一致。", "1.23"]

    def no_total(ws):
        holder["row"] = row = _total_row(ws)
        for col in range(1, ws.max_column + 1):
            ws.cell(row, col).value = None

    _stored_report(services, run, _table(services, run, no_total))
    rows = _download(client, run)
    assert rows[1][0] == holder["row"] and "缺少合计行" in rows[1][2]


def test_every_wage_table_error_code_has_words_for_the_reader():
    from web.payroll.table_report import MESSAGES

    source = (ROOT / "domain" / "wage_table.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'(?:WageTableError|err)\(\s*(?:\w+,\s*)?"([a-z_]+)"', source))
    codes |= set(re.findall(r'TableRowError\([^()]*?,\s*(?:"[a-z]+"|TOTAL_LABEL),\s*"([a-z_]+)"', source))
    assert {"name_mismatch", "total_mismatch", "missing_total", "zero_net", "bad_header", "future_month",
            "no_attendance", "bad_back_pay_month", "back_pay_not_earlier", "no_attendance_in_back_pay_month"} <= codes
    assert codes <= set(MESSAGES), sorted(codes - set(MESSAGES))


# --- the admin timeline ----------------------------------------------------------------------------


def test_the_timeline_of_a_wage_run_uses_business_words_and_reasons(app, services, bridge, run):
    specialist = services.Session().scalar(select(Account.id).where(Account.username == "payroll_a"))
    with services.Session.begin() as db:
        wf = run["workflow_id"]
        audit.record(db, actor_id=specialist, actor_name="工资专员payroll_a", action="wage_step.signed",
                     target_type="wage_run", target_id=run["id"], business_key=wf,
                     detail={"step": "wage_table", "signature_id": 1, "signing_key_id": 1, "document_sha256": "ab"})
        audit.record(db, actor_id=specialist, actor_name="工资专员payroll_a", action="wage_run.wage_table",
                     target_type="wage_run", target_id=run["id"], business_key=wf,
                     detail={"lines": 4, "total_fen": 1920200, "sha256": "ab"})
        audit.record(db, actor_id=None, actor_name="bank (callback)", action="bank_statement.received",
                     target_type="wage_run", target_id=run["id"], business_key=wf,
                     detail={"statement_id": "S1", "batch_id": "B1", "lines": 4})
        audit.record(db, actor_id=specialist, actor_name="工资专员payroll_a", action="wage_run.settle_line",
                     target_type="wage_line", target_id=1, business_key=wf, reason="已现金发放并签收")
        audit.record(db, actor_id=None, actor_name="system", action="wage_run.some_new_step",
                     target_type="wage_run", target_id=run["id"], business_key=wf)
    bridge.client.executions[wf] = FakeExecution(wf, workflow_type="WageRunWorkflow")
    client = _as(app.test_client(), services, "admin")
    page = client.get(f"/admin/process/{wf}").get_data(as_text=True)
    timeline = _text(re.search(r'<ol class="timeline" id="timeline">.*?</ol>', page, re.S).group(0))
    assert "工资专员payroll_a 发起了本月工资发放" in timeline
    assert "工资专员payroll_a 已用安全密码签署“工资表”步骤" in timeline
    assert "上传了工资表：4 笔，合计 19,202.00 元" in timeline
    assert "收到银行回单：4 笔已有结果" in timeline
    assert "标记为已线下处理：已现金发放并签收" in timeline
    assert "平台 对该事项作了变更" in timeline
    for raw in ("wage_step.signed", "bank (callback)", "wage_run.", "system", "bank_statement"):
        assert raw not in timeline


def test_the_timeline_of_a_binding_gives_the_banks_reason_in_words(app, services, bridge):
    wf = "wage-account-9-1"
    with services.Session.begin() as db:
        audit.record(db, actor_id=None, actor_name="bank", action="wage_account.refused", target_type="wage_account",
                     target_id=1, business_key=wf, reason="NAME_MISMATCH: the name does not match")
        audit.record(db, actor_id=None, actor_name="system", action="wage_account.expired", target_type="wage_account",
                     target_id=1, business_key=wf, reason="EXPIRED")
    bridge.client.executions[wf] = FakeExecution(wf, workflow_type="WageAccountBindingWorkflow")
    page = _as(app.test_client(), services, "admin").get(f"/admin/process/{wf}").get_data(as_text=True)
    timeline = _text(re.search(r'<ol class="timeline" id="timeline">.*?</ol>', page, re.S).group(0))
    assert "银行拒绝了该工资专户：账户名称与银行记录不符。" in timeline and "NAME_MISMATCH" not in timeline
    assert "绑定已终止：" in timeline and "EXPIRED" not in timeline


def test_every_decision_shows_its_reason_and_a_refused_statement_says_why_in_words(app, services, bridge, run):
    from tests.helpers.web_app import create_registration

    case = create_registration(services)
    wf = run["workflow_id"]
    with services.Session.begin() as db:
        audit.record(db, actor_id=None, actor_name="李审核", action="registration.approve", target_type="registration",
                     target_id=case["id"], business_key=case["number"], reason="材料齐全")
        audit.record(db, actor_id=None, actor_name="bank (exchange)", action="bank_statement.refused",
                     target_type="wage_run", target_id=run["id"], business_key=wf,
                     reason="bad_signature: the bank's signature does not verify")
    bridge.client.executions[case["workflow_id"]] = FakeExecution(case["workflow_id"])
    bridge.client.executions[wf] = FakeExecution(wf, workflow_type="WageRunWorkflow")
    client = _as(app.test_client(), services, "admin")
    page = _text(client.get(f"/admin/process/{case['workflow_id']}").get_data(as_text=True))
    assert "李审核 审核通过了申请（理由：材料齐全）" in page
    page = _text(client.get(f"/admin/process/{wf}").get_data(as_text=True))
    assert "一份自称来自银行的回单被拒收：银行签名验证不通过" in page
    assert "bad_signature" not in page and "bank (exchange)" not in page


PROCESS_PREFIXES = ("registration.", "task.", "admin.", "wage_account.", "wage_run.", "wage_step.",
                    "bank_statement.", "worker.", "site_access.")


def test_every_process_audit_action_written_in_the_code_has_business_words():
    written = set()
    for package in ("activities", "domain", "web", "bank_connectors", "shiming", "workflows"):
        for path in (ROOT / package).rglob("*.py"):
            written |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text(encoding="utf-8")))
            # the administrator's actions are passed on by name (web/admin/routes.py); route names are not
            written |= set(re.findall(r'(?<!url_for\()"(admin\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    written |= {f"registration.{d}" for d in Decision.ALL}
    process = {a for a in written if a.startswith(PROCESS_PREFIXES)}
    assert {"wage_step.signed", "bank_statement.received", "registration.approve", "worker.exit"} <= process
    assert process <= set(ACTIONS), sorted(process - set(ACTIONS))
