"""The payroll specialist's pages: scope, opening a run, the signed steps and the masked reconciliation."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from domain import registration as reg
from domain import signing
from domain.models import Project, RegistrationApplication, StoredFile, WageLineStatus, WageRun
from domain.processes.wage_run import BatchInfo, ReissueInput, SignedStepInput, WageRunInput, WageRunStatusView
from tests.helpers.fakes import FakeExecution
from tests.helpers.wage_scenario import (
    MONTH, SECURITY_PASSWORDS, bound_wage_account, create_payroll_specialist, lines_after_statement, open_wage_run,
)
from tests.helpers.web_app import as_english, create_registration, enter_session, page_text, tiny_pdf, upload
from workflows.wage_run import WageRunWorkflow


def _workbook(text: str) -> bytes:
    """A real .xlsx (the upload guard checks the OOXML structure before anything is signed)."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append([text])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

def _other_project_run(services) -> int:
    case = create_registration(services)
    with services.Session.begin() as db:
        project, _account, _pw = reg.approve(db, services.cipher, db.get(RegistrationApplication, case["id"]))
        db.flush()
        other_id = project.id
    wage_account_id = bound_wage_account(services, other_id)
    with services.Session.begin() as db:
        run = WageRun(project_id=other_id, month=MONTH, workflow_id=f"wage-run-other-{MONTH}",
                      wage_account_id=wage_account_id)
        db.add(run)
        db.flush()
        return run.id


def test_other_roles_are_refused_and_the_specialist_lands_on_the_runs(client, services, platform):
    for username in ("reviewer", "project", "admin"):
        other = client.application.test_client()
        enter_session(other, services, username)
        assert other.get("/payroll/").status_code == 403
    response = client.post("/login", data={"username": "payroll_a", "password": "Login2026x"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/payroll/")
    page = page_text(client, "/payroll/")
    assert 'id="nav-wage-runs"' in page and 'id="open-run-form"' in page


def test_another_projects_run_is_not_found(client, services, platform, bridge):
    run_id = _other_project_run(services)
    enter_session(client, services, "payroll_a")
    for url in (f"/payroll/run/{run_id}", f"/payroll/run/{run_id}/table.xlsx", f"/payroll/run/{run_id}/errors.xlsx",
                f"/payroll/run/{run_id}/wage-file/1", f"/payroll/run/{run_id}/sheet"):
        assert client.get(url).status_code == 404, url
    response = client.post(f"/payroll/run/{run_id}/wage-table", data={
        "table": upload(b"whatever", "t.xlsx"), "security_password": SECURITY_PASSWORDS["payroll_a"]},
        content_type="multipart/form-data")
    assert response.status_code == 404
    assert client.post(f"/payroll/run/{run_id}/reissue").status_code == 404
    assert bridge.calls == 0
    assert f'data-run-id="{run_id}"' not in page_text(client, "/payroll/")


def test_opening_a_run_starts_its_workflow(client, services, platform, bridge):
    as_english(client, services, "payroll_a")
    response = client.post("/payroll/open", data={"month": MONTH})
    assert response.status_code == 302
    with services.Session() as db:
        run = db.scalar(select(WageRun).where(WageRun.project_id == platform["project_id"]))
        run_id, workflow_id = run.id, run.workflow_id
    assert response.headers["Location"].endswith(f"/payroll/run/{run_id}")
    [started] = bridge.client.started
    assert started["workflow"] == WageRunWorkflow.run
    assert started["arg"] == WageRunInput(run_id)
    assert started["id"] == workflow_id and started["task_queue"] == bridge.task_queue
    page = page_text(client, "/payroll/")
    assert f'data-run-id="{run_id}"' in page and f'data-month="{MONTH}"' in page

    again = client.post("/payroll/open", data={"month": MONTH})
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    bad = client.post("/payroll/open", data={"month": "2026-13"})
    assert bad.status_code == 422 and "Not a valid month" in bad.get_data(as_text=True)
    assert len(bridge.client.started) == 1


def test_a_run_whose_start_failed_can_be_started_again(client, services, platform, bridge):
    as_english(client, services, "payroll_a")
    bridge.down = True
    page = client.post("/payroll/open", data={"month": MONTH}, follow_redirects=True).get_data(as_text=True)
    assert "not reachable" in page and 'id="start-process"' in page
    with services.Session() as db:
        run = db.scalar(select(WageRun).where(WageRun.project_id == platform["project_id"]))
    bridge.down = False
    assert client.post(f"/payroll/run/{run.id}/start").status_code == 302
    assert [s["id"] for s in bridge.client.started] == [run.workflow_id]
    assert client.post(f"/payroll/run/{run.id}/start").status_code == 302  # already started: no harm
    assert "was started" in page_text(client, f"/payroll/run/{run.id}")


def test_no_wage_account_is_a_translated_refusal(client, services, bridge):
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).order_by(Project.id))
    create_payroll_specialist(services, "payroll_c", project_id)
    as_english(client, services, "payroll_c")
    response = client.post("/payroll/open", data={"month": MONTH})
    assert response.status_code == 422 and "no bound wage account" in response.get_data(as_text=True)
    assert bridge.calls == 0


def test_a_wrong_security_password_shows_the_attempts_left_and_sends_nothing(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    as_english(client, services, "payroll_a")
    with services.Session() as db:
        files_before = db.scalar(select(func.count()).select_from(StoredFile))
    response = client.post(f"/payroll/run/{run['id']}/wage-table", data={
        "table": upload(_workbook("a table"), "table.xlsx"), "security_password": "Wrong2026x"},
        content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Wrong security password. 4 attempt(s) left" in page
    assert bridge.calls == 0
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(StoredFile)) == files_before


def test_a_valid_table_upload_is_signed_and_sent_to_the_process(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    enter_session(client, services, "payroll_a")
    data = client.get(f"/payroll/run/{run['id']}/table.xlsx").get_data()
    assert data[:2] == b"PK"
    response = client.post(f"/payroll/run/{run['id']}/wage-table", data={
        "table": upload(data, "table.xlsx"), "security_password": SECURITY_PASSWORDS["payroll_a"]},
        content_type="multipart/form-data")
    assert response.status_code == 302
    [(workflow_id, update, arg)] = bridge.updates
    assert workflow_id == run["workflow_id"] and update == WageRunWorkflow.submit_wage_table
    assert isinstance(arg, SignedStepInput)
    assert arg.step == "wage_table" and arg.run_id == run["id"] and arg.actor_id == platform["accounts"]["payroll_a"]
    assert arg.content_sha256 == hashlib.sha256(data).hexdigest()
    with services.Session() as db:
        assert signing.verify(db, arg.signing_key_id, arg.document, arg.signature)
        stored = db.get(StoredFile, arg.file_id)
        assert services.blobs.get(stored.sha256) == data
    assert signing.parse_step_document(arg.document)["content_sha256"] == arg.content_sha256


def test_the_bank_file_step_signs_the_current_batch_and_shows_the_maker_checker_rule(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    batch = BatchInfo(batch_id="B1", version=1, plaintext_sha256="ab" * 32, line_count=4, total_fen=1234500, file_id=7)
    with services.Session.begin() as db:
        db.get(WageRun, run["id"]).step = "bank_file"
        db.get(WageRun, run["id"]).table_uploaded_by = platform["accounts"]["payroll_a"]
    bridge.client.executions[run["workflow_id"]] = FakeExecution(
        run["workflow_id"], workflow_type="WageRunWorkflow",
        view=WageRunStatusView(step="bank_file", table_uploaded_by=platform["accounts"]["payroll_a"], batch=batch,
                           reconcile=None))
    as_english(client, services, "payroll_a")
    page = page_text(client, f"/payroll/run/{run['id']}")
    assert 'id="maker-checker-rule"' in page and 'id="maker-checker-me"' in page and 'id="wage-file-form"' in page
    # the process's MakerChecker refusal on the page: tests/web/test_refusals_live.py
    other = client.application.test_client()
    enter_session(other, services, "payroll_b")
    assert other.post(f"/payroll/run/{run['id']}/wage-file", data={
        "batch_version": "1", "security_password": SECURITY_PASSWORDS["payroll_b"]}).status_code == 302
    _wf, update, arg = bridge.updates[-1]
    assert update == WageRunWorkflow.submit_bank_file
    assert arg.content_sha256 == batch.plaintext_sha256 and arg.batch_version == 1 and arg.step == "bank_file"
    stale = other.post(f"/payroll/run/{run['id']}/wage-file", data={
        "batch_version": "0", "security_password": SECURITY_PASSWORDS["payroll_b"]})
    assert stale.status_code == 302 and len(bridge.updates) == 1  # a stale batch version is not sent


def test_the_reconciliation_masks_cards_and_filters_lines(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    lines = lines_after_statement(services, run["id"])
    as_english(client, services, "payroll_a")
    page = page_text(client, f"/payroll/run/{run['id']}?lines=all")
    for line in lines:
        assert line["card"] not in page and line["id_number"] not in page
        assert f"**** **** **** {line['last4']}" in page and line["name"] in page
    assert "4,800.50" in page
    failed = next(line for line in lines if line["status"] == WageLineStatus.FAILED)
    assert f'id="settle-form-{failed["id"]}"' in page and 'id="reissue-failed"' in page
    assert page.count('class="form settle-form"') == 1
    only_failed = page_text(client, f"/payroll/run/{run['id']}?lines=failed")
    assert only_failed.count("data-line-id=") == 1 and f'data-line-id="{failed["id"]}"' in only_failed
    assert page_text(client, f"/payroll/run/{run['id']}?lines=paid").count("data-line-id=") == 2

    client.post(f"/payroll/run/{run['id']}/reissue")
    _wf, update, arg = bridge.updates[-1]
    assert update == WageRunWorkflow.reissue_failed and arg == ReissueInput(platform["accounts"]["payroll_a"])


def test_settling_a_failed_line_needs_a_reason_and_signs_it(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    failed = next(line for line in lines_after_statement(services, run["id"]) if line["status"] == WageLineStatus.FAILED)
    as_english(client, services, "payroll_a")
    url = f"/payroll/run/{run['id']}/line/{failed['id']}/settle"
    page = client.post(url, data={"reason": "  ", "security_password": SECURITY_PASSWORDS["payroll_a"]},
                       follow_redirects=True).get_data(as_text=True)
    assert "A reason is required." in page and bridge.calls == 0
    client.post(url, data={"reason": "paid in cash", "security_password": SECURITY_PASSWORDS["payroll_a"]})
    [(_wf, update, arg)] = bridge.updates
    assert update == WageRunWorkflow.settle_line and arg.line_id == failed["id"] and arg.reason == "paid in cash"
    fields = signing.parse_step_document(arg.document)
    assert fields["step"] == "settle"
    assert fields["content_sha256"] == hashlib.sha256(f"{failed['id']}:paid in cash".encode()).hexdigest()
    with services.Session() as db:
        assert signing.verify(db, arg.signing_key_id, arg.document, arg.signature)


def test_setting_and_changing_the_security_password(client, services, platform, bridge):
    create_payroll_specialist(services, "payroll_c", platform["project_id"])
    as_english(client, services, "payroll_c")
    page = page_text(client, "/payroll/security-password")
    assert 'data-mode="set"' in page and 'name="current_password"' not in page
    same = client.post("/payroll/security-password", data={"new_password": "Login2026x", "confirm_password": "Login2026x"})
    assert same.status_code == 422 and "must differ from the login password" in same.get_data(as_text=True)
    weak = client.post("/payroll/security-password", data={"new_password": "short", "confirm_password": "short"})
    assert weak.status_code == 422 and "at least 8 characters" in weak.get_data(as_text=True)
    assert client.post("/payroll/security-password", data={
        "new_password": "Anquan2026c", "confirm_password": "Anquan2026c"}).status_code == 302
    page = page_text(client, "/payroll/security-password")
    assert 'data-mode="change"' in page
    wrong = client.post("/payroll/security-password", data={
        "current_password": "Nope2026xx", "new_password": "Anquan2027c", "confirm_password": "Anquan2027c"})
    assert wrong.status_code == 422 and "4 attempt(s) left" in wrong.get_data(as_text=True)
    assert client.post("/payroll/security-password", data={
        "current_password": "Anquan2026c", "new_password": "Anquan2027c", "confirm_password": "Anquan2027c"}
    ).status_code == 302


def test_the_signed_sheet_must_be_a_scan(client, services, platform, bridge):
    run = open_wage_run(services, platform)
    with services.Session.begin() as db:
        db.get(WageRun, run["id"]).step = "signed_sheet"
    as_english(client, services, "payroll_a")
    page = client.post(f"/payroll/run/{run['id']}/signed-sheet", data={
        "sheet": upload(b"not a scan at all", "sheet.txt"), "security_password": SECURITY_PASSWORDS["payroll_a"]},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "Only PDF, JPEG or PNG" in page and bridge.calls == 0
    client.post(f"/payroll/run/{run['id']}/signed-sheet", data={
        "sheet": upload(tiny_pdf(), "sheet.pdf"), "security_password": SECURITY_PASSWORDS["payroll_a"]},
        content_type="multipart/form-data")
    [(_wf, update, arg)] = bridge.updates
    assert update == WageRunWorkflow.submit_signed_sheet and arg.step == "signed_sheet"
    assert arg.content_sha256 == hashlib.sha256(tiny_pdf()).hexdigest()
