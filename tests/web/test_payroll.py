"""The payroll specialist's pages: scope, opening a run, the signed steps and the masked reconciliation."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from domain.processes.wage_run import BatchInfo, SignedStepInput
from domain import registration as reg
from domain import signing, workforce
from domain.models import (
    Account,
    Project,
    RegistrationApplication,
    StoredFile,
    WageAccount,
    WageLine,
    WageLineStatus,
    WageRun,
    Worker,
    ProjectWorker,
)
from domain.wage_run import open_run
from shiming.seed_workforce import seed_workforce
from tests.helpers.web_app import (
    create_payroll_specialist,
    create_registration,
    enter_session,
    tiny_pdf,
    upload,
)
from tests.helpers.fakes import FakeExecution
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import ReissueInput, WageRunInput, WageRunStatusView


def _workbook(text: str) -> bytes:
    """A real .xlsx (the upload guard checks the OOXML structure before anything is signed)."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append([text])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

MONTH = "2026-10"
WAGE_ACCOUNT = "6222020000012345678"
SECURITY_PASSWORDS = {"payroll_a": "Anquan2026a", "payroll_b": "Anquan2026b"}


def _wage_account(services, project_id: int) -> int:
    with services.Session.begin() as db:
        row = WageAccount(project_id=project_id, bank_code="REFBANK",
                          account_number_enc=services.cipher.encrypt(WAGE_ACCOUNT, "account_number"),
                          account_number_hash=services.cipher.lookup_hash(WAGE_ACCOUNT, "account_number"),
                          account_last4=WAGE_ACCOUNT[-4:], account_name="示范项目农民工工资专用账户", status="bound")
        db.add(row)
        db.flush()
        return row.id


@pytest.fixture
def platform(services) -> dict:
    """Workforce, a bound wage account and two payroll specialists (as in tests/e2e)."""
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))
    seed_workforce(services, project_id, workers=4, month=MONTH)
    _wage_account(services, project_id)
    ids = {u: create_payroll_specialist(services, u, project_id, security_password=p)
           for u, p in SECURITY_PASSWORDS.items()}
    return {"project_id": project_id, "accounts": ids}


def _open(services, platform, month: str = MONTH) -> dict:
    with services.Session.begin() as db:
        run = open_run(db, platform["project_id"], month, db.get(Account, platform["accounts"]["payroll_a"]))
        return {"id": run.id, "workflow_id": run.workflow_id}


def _english(client, services, username: str):
    enter_session(client, services, username)
    client.get("/lang/en")
    return client


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def _other_project_run(services) -> int:
    case = create_registration(services)
    with services.Session.begin() as db:
        project, _account, _pw = reg.approve(db, services.cipher, db.get(RegistrationApplication, case["id"]))
        db.flush()
        other_id = project.id
    wage_account_id = _wage_account(services, other_id)
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
    page = _page(client, "/payroll/")
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
    assert f'data-run-id="{run_id}"' not in _page(client, "/payroll/")


def test_opening_a_run_starts_its_workflow(client, services, platform, bridge):
    _english(client, services, "payroll_a")
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
    page = _page(client, "/payroll/")
    assert f'data-run-id="{run_id}"' in page and f'data-month="{MONTH}"' in page

    again = client.post("/payroll/open", data={"month": MONTH})
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    bad = client.post("/payroll/open", data={"month": "2026-13"})
    assert bad.status_code == 422 and "Not a valid month" in bad.get_data(as_text=True)
    assert len(bridge.client.started) == 1


def test_a_run_whose_start_failed_can_be_started_again(client, services, platform, bridge):
    _english(client, services, "payroll_a")
    bridge.down = True
    page = client.post("/payroll/open", data={"month": MONTH}, follow_redirects=True).get_data(as_text=True)
    assert "not reachable" in page and 'id="start-process"' in page
    with services.Session() as db:
        run = db.scalar(select(WageRun).where(WageRun.project_id == platform["project_id"]))
    bridge.down = False
    assert client.post(f"/payroll/run/{run.id}/start").status_code == 302
    assert [s["id"] for s in bridge.client.started] == [run.workflow_id]
    assert client.post(f"/payroll/run/{run.id}/start").status_code == 302  # already started: no harm
    assert "was started" in _page(client, f"/payroll/run/{run.id}")


def test_no_wage_account_is_a_translated_refusal(client, services, bridge):
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).order_by(Project.id))
    create_payroll_specialist(services, "payroll_c", project_id)
    _english(client, services, "payroll_c")
    response = client.post("/payroll/open", data={"month": MONTH})
    assert response.status_code == 422 and "no bound wage account" in response.get_data(as_text=True)
    assert bridge.calls == 0


def test_a_wrong_security_password_shows_the_attempts_left_and_sends_nothing(client, services, platform, bridge):
    run = _open(services, platform)
    _english(client, services, "payroll_a")
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
    run = _open(services, platform)
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
    run = _open(services, platform)
    batch = BatchInfo(batch_id="B1", version=1, plaintext_sha256="ab" * 32, line_count=4, total_fen=1234500, file_id=7)
    with services.Session.begin() as db:
        db.get(WageRun, run["id"]).step = "bank_file"
        db.get(WageRun, run["id"]).table_uploaded_by = platform["accounts"]["payroll_a"]
    bridge.client.executions[run["workflow_id"]] = FakeExecution(
        run["workflow_id"], workflow_type="WageRunWorkflow",
        view=WageRunStatusView(step="bank_file", table_uploaded_by=platform["accounts"]["payroll_a"], batch=batch,
                           reconcile=None))
    _english(client, services, "payroll_a")
    page = _page(client, f"/payroll/run/{run['id']}")
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


def _lines(services, run_id: int) -> list[dict]:
    """Four lines as the process would have left them after the bank's statement."""
    statuses = [WageLineStatus.PAID, WageLineStatus.FAILED, WageLineStatus.PAID, WageLineStatus.SETTLED]
    out = []
    with services.Session.begin() as db:
        run = db.get(WageRun, run_id)
        workers = db.scalars(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                             .where(ProjectWorker.project_id == run.project_id).order_by(Worker.id)).all()
        for seq, (worker, status) in enumerate(zip(workers, statuses), start=1):
            card = workforce.current_card(db, worker.id)
            line = WageLine(run_id=run_id, seq=seq, worker_id=worker.id, gross_fen=500000, net_fen=480050,
                            status=status, batch_version=1, card_id=card.id,
                            failure_code="ACCOUNT_CLOSED" if status == WageLineStatus.FAILED else None,
                            failure_reason="card closed" if status == WageLineStatus.FAILED else None,
                            settled_reason="paid in cash" if status == WageLineStatus.SETTLED else None)
            db.add(line)
            db.flush()
            out.append({"id": line.id, "status": status, "card": workforce.card_number_of(services.cipher, card),
                        "last4": card.last4, "id_number": workforce.id_number_of(services.cipher, worker),
                        "name": worker.name})
        run.step = "reconcile"
    return out


def test_the_reconciliation_masks_cards_and_filters_lines(client, services, platform, bridge):
    run = _open(services, platform)
    lines = _lines(services, run["id"])
    _english(client, services, "payroll_a")
    page = _page(client, f"/payroll/run/{run['id']}?lines=all")
    for line in lines:
        assert line["card"] not in page and line["id_number"] not in page
        assert f"**** **** **** {line['last4']}" in page and line["name"] in page
    assert "4,800.50" in page
    failed = next(line for line in lines if line["status"] == WageLineStatus.FAILED)
    assert f'id="settle-form-{failed["id"]}"' in page and 'id="reissue-failed"' in page
    assert page.count('class="form settle-form"') == 1
    only_failed = _page(client, f"/payroll/run/{run['id']}?lines=failed")
    assert only_failed.count("data-line-id=") == 1 and f'data-line-id="{failed["id"]}"' in only_failed
    assert _page(client, f"/payroll/run/{run['id']}?lines=paid").count("data-line-id=") == 2

    client.post(f"/payroll/run/{run['id']}/reissue")
    _wf, update, arg = bridge.updates[-1]
    assert update == WageRunWorkflow.reissue_failed and arg == ReissueInput(platform["accounts"]["payroll_a"])


def test_settling_a_failed_line_needs_a_reason_and_signs_it(client, services, platform, bridge):
    run = _open(services, platform)
    failed = next(line for line in _lines(services, run["id"]) if line["status"] == WageLineStatus.FAILED)
    _english(client, services, "payroll_a")
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
    _english(client, services, "payroll_c")
    page = _page(client, "/payroll/security-password")
    assert 'data-mode="set"' in page and 'name="current_password"' not in page
    same = client.post("/payroll/security-password", data={"new_password": "Login2026x", "confirm_password": "Login2026x"})
    assert same.status_code == 422 and "must differ from the login password" in same.get_data(as_text=True)
    weak = client.post("/payroll/security-password", data={"new_password": "short", "confirm_password": "short"})
    assert weak.status_code == 422 and "at least 8 characters" in weak.get_data(as_text=True)
    assert client.post("/payroll/security-password", data={
        "new_password": "Anquan2026c", "confirm_password": "Anquan2026c"}).status_code == 302
    page = _page(client, "/payroll/security-password")
    assert 'data-mode="change"' in page
    wrong = client.post("/payroll/security-password", data={
        "current_password": "Nope2026xx", "new_password": "Anquan2027c", "confirm_password": "Anquan2027c"})
    assert wrong.status_code == 422 and "4 attempt(s) left" in wrong.get_data(as_text=True)
    assert client.post("/payroll/security-password", data={
        "current_password": "Anquan2026c", "new_password": "Anquan2027c", "confirm_password": "Anquan2027c"}
    ).status_code == 302


def test_the_signed_sheet_must_be_a_scan(client, services, platform, bridge):
    run = _open(services, platform)
    with services.Session.begin() as db:
        db.get(WageRun, run["id"]).step = "signed_sheet"
    _english(client, services, "payroll_a")
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
