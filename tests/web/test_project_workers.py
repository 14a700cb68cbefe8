"""The project account's worker pages: list, roster import, card replacement, exit (PAY-7)."""
from __future__ import annotations

import io
import random
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from domain import workforce as wf
from domain.models import (
    Account,
    AuditLog,
    BankCard,
    Company,
    CompanyKind,
    Project,
    ProjectWorker,
    Role,
    StoredFile,
    Team,
    Worker,
)
from domain.roster import COLUMNS
from domain.rules import luhn_check_digit, mask_card_number, mask_id_number
from shiming.seed import demo_credit_code
from shiming.seed_workforce import generate_card_number, generate_id_number, seed_workforce
from bank_connectors.http import HttpBankConnector
from shiming.processes import free_port
from tests.helpers.bank_process import BankProcess
from domain.services import Services
from tests.helpers.services import make_settings
from tests.helpers.web_app import PASSWORDS, login, upload
from web import create_app
from web.core import BANK_CONNECTOR
from tests.helpers.fakes import FakeExecution
from domain.processes.worker_exit import CancelExitRequest, ExitState, WorkerExitStatus
from workflows.worker_exit import WorkerExitWorkflow

TEAMS = ("钢筋班组", "木工班组", "砌筑班组")


@pytest.fixture
def site(services) -> dict:
    """The demo project (of the "project" account) with three workers, and another project with one."""
    with services.Session() as db:
        project = db.scalar(select(Project).where(Project.id == select(Account.project_id).where(
            Account.username == "project").scalar_subquery()))
        project_id = project.id
    seed_workforce(services, project_id, workers=3)
    with services.Session.begin() as db:
        other = Project(code="PXOTHER0001", district_id=project.district_id, name="另一个项目", address=project.address,
                        builder_name=project.builder_name, builder_credit_code=project.builder_credit_code,
                        contractor_name=project.contractor_name, contractor_credit_code=project.contractor_credit_code,
                        owner_name=project.owner_name, owner_credit_code=project.owner_credit_code,
                        contract_value_fen=project.contract_value_fen, planned_start=project.planned_start,
                        planned_end=project.planned_end, contact_name=project.contact_name,
                        contact_phone_enc=project.contact_phone_enc, contact_phone_hash=project.contact_phone_hash)
        db.add(other)
        db.flush()
        company = wf.ensure_company(db, other.id, "别的劳务公司", demo_credit_code("91450100MA5LW0077"),
                                    CompanyKind.LABOUR_COMPANY)
        team = wf.ensure_team(db, other.id, company.id, "钢筋班组")
        person = wf.upsert_worker(db, services.cipher, name="外项目工人", id_number=generate_id_number(random.Random(7)))
        other_pw = wf.enrol(db, project_id=other.id, worker=person, team=team, company=company, trade="020",
                            daily_rate_fen=30000, entry_date=date(2026, 9, 1)).id
        other_card = generate_card_number(random.Random(8))
        wf.set_card(db, services.cipher, person, "中国农业银行", other_card)
    with services.Session() as db:
        pws = list(db.scalars(select(ProjectWorker).where(ProjectWorker.project_id == project_id)
                              .order_by(ProjectWorker.id)))
        return {"project_id": project_id, "pw_ids": [pw.id for pw in pws],
                "worker_ids": [pw.worker_id for pw in pws], "other_pw": other_pw, "other_card": other_card}


@pytest.fixture
def project_client(client):
    assert login(client, "project").status_code == 302
    return client


def _counts(services) -> dict:
    with services.Session() as db:
        return {m.__tablename__: db.scalar(select(func.count()).select_from(m))
                for m in (Worker, ProjectWorker, BankCard)}


def _audit(services, action: str) -> list[AuditLog]:
    with services.Session() as db:
        return list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


# ---- list ------------------------------------------------------------------------------------------


def test_the_list_shows_the_projects_workers_masked_and_filters_by_status(project_client, services, site):
    cipher = services.cipher
    with services.Session.begin() as db:
        db.get(ProjectWorker, site["pw_ids"][0]).status = "exiting"
        person = db.get(Worker, site["worker_ids"][1])
        id_number, phone = wf.id_number_of(cipher, person), wf.phone_of(cipher, person)
        card = wf.card_number_of(cipher, wf.current_card(db, person.id))
    page = project_client.get("/project/workers").get_data(as_text=True)
    assert page.count('data-worker-id="') == 3
    assert "外项目工人" not in page
    assert mask_id_number(id_number) in page and id_number not in page
    assert mask_card_number(card) in page and card not in page
    assert phone not in page and phone[:3] + "****" + phone[-4:] in page
    assert "钢筋班组" in page
    exiting = project_client.get("/project/workers?status=exiting").get_data(as_text=True)
    assert exiting.count('data-worker-id="') == 1 and f'data-worker-id="{site["pw_ids"][0]}"' in exiting
    assert project_client.get("/project/workers?status=exited").get_data(as_text=True).count('data-worker-id="') == 0


def test_the_enterprise_account_may_not_see_workers(client, services, site):
    login(client, "enterprise")
    assert client.get("/project/workers").status_code == 403
    assert client.get("/project/roster").status_code == 403


def test_another_projects_worker_is_not_found(project_client, services, site, bridge):
    other = site["other_pw"]
    for url in (f"/project/workers/{other}", f"/project/workers/{other}/card", "/project/workers/999999"):
        assert project_client.get(url).status_code == 404, url
    for url, data in ((f"/project/workers/{other}/exit", {"reason": "离场"}),
                      (f"/project/workers/{other}/exit/cancel", {"reason": "撤回"}),
                      (f"/project/workers/{other}/exit/start", {}),
                      (f"/project/workers/{other}/exit/recheck", {}),
                      (f"/project/workers/{other}/card", {"bank_name": "工行", "card_number": generate_card_number(
                          random.Random(1)), "password": PASSWORDS["project"]})):
        assert project_client.post(url, data=data).status_code == 404, url
    with services.Session() as db:
        assert db.get(ProjectWorker, other).status == "active"
    assert bridge.calls == 0


# ---- roster import --------------------------------------------------------------------------------


def _roster(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append([title for _, title in COLUMNS])
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rows(n: int, seed: int = 11) -> list[list]:
    rng = random.Random(seed)
    return [[f"新工人{i}", generate_id_number(rng, "450103", date(1985, 1, 1) + timedelta(days=i)), f"1391100{i:04d}",
             TEAMS[i % 3], "020", "320.00", "中国工商银行", generate_card_number(rng), "2026-11-01"] for i in range(n)]


def test_the_template_downloads(project_client, site):
    response = project_client.get("/project/roster/template.xlsx")
    assert response.status_code == 200
    headers = [c.value for c in load_workbook(io.BytesIO(response.get_data())).active[1]]
    assert headers == [title for _, title in COLUMNS]


def test_a_good_roster_is_imported_and_audited(project_client, services, site):
    before = _counts(services)
    response = project_client.post("/project/roster", data={"roster": upload(_roster(_rows(4)), "roster.xlsx")},
                                   content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count('data-worker-id="') == 7
    assert "4" in page and "flash-success" in page
    after = _counts(services)
    assert after["project_worker"] == before["project_worker"] + 4
    [row] = _audit(services, "roster.import")
    assert '"created": 4' in row.detail


def test_a_bad_roster_saves_nothing_and_offers_the_masked_report(project_client, services, site):
    rows = _rows(3)
    bad_id = rows[1][1][:-1] + ("0" if rows[1][1][-1] != "0" else "1")
    rows[1][1] = bad_id
    body = rows[2][7][:-1]
    rows[2][7] = body + str((int(luhn_check_digit(body)) + 1) % 10)  # Luhn fails
    before = _counts(services)
    assert project_client.get("/project/roster/errors.xlsx").status_code == 404  # nothing yet
    response = project_client.post("/project/roster", data={"roster": upload(_roster(rows), "roster.xlsx")},
                                   content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error-count="2"' in page and 'id="download-error-report"' in page
    assert _counts(services) == before
    assert _audit(services, "roster.import") == []
    report = project_client.get("/project/roster/errors.xlsx")
    assert report.status_code == 200
    cells = [str(c.value) for row in load_workbook(io.BytesIO(report.get_data())).active.iter_rows() for c in row]
    assert bad_id not in cells and rows[2][7] not in cells
    assert mask_id_number(bad_id) in cells
    with services.Session() as db:
        assert db.scalar(select(StoredFile.display_name).order_by(StoredFile.id.desc()).limit(1)) \
               == f"roster-errors-{site['project_id']}.xlsx"


def test_a_file_that_is_not_a_workbook_and_an_empty_upload_are_refused(project_client, services, site):
    before = _counts(services)
    response = project_client.post("/project/roster", data={"roster": upload(b"%PDF-1.4 not a sheet", "r.xlsx")},
                                   content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "flash-error" in page and "data-error-count" not in page
    response = project_client.post("/project/roster", data={"roster": upload(b"", "r.xlsx")},
                                   content_type="multipart/form-data")
    assert response.status_code == 422 and "flash-error" in response.get_data(as_text=True)
    assert _counts(services) == before


# ---- card replacement -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref_bank(tmp_path_factory):
    """The reference bank as a real process: the card check of a replacement goes to it."""
    process = BankProcess(tmp_path_factory.mktemp("card-bank") / "bank")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def bank(app, ref_bank):
    """The app asks the reference bank (its HTTP connector, as SHIMING_BANK_URL would configure it)."""
    app.extensions["shiming"][BANK_CONNECTOR] = HttpBankConnector(ref_bank.url, timeout=5)
    return ref_bank


def _worker_name(services, worker_id: int) -> str:
    with services.Session() as db:
        return db.get(Worker, worker_id).name


def _current(services, worker_id: int) -> BankCard:
    with services.Session() as db:
        card = wf.current_card(db, worker_id)
        db.expunge(card)
        return card


def test_the_card_is_replaced_with_the_login_password(project_client, services, site, bank):
    pw_id, worker_id = site["pw_ids"][0], site["worker_ids"][0]
    old = _current(services, worker_id)
    new_number = generate_card_number(random.Random(99), "621700")
    bank.admin("cards", [{"number": new_number, "holder_name": _worker_name(services, worker_id), "status": "open"}])
    response = project_client.post(f"/project/workers/{pw_id}/card", data={
        "bank_name": "中国建设银行", "card_number": new_number, "password": PASSWORDS["project"]})
    assert response.status_code == 302
    card = _current(services, worker_id)
    assert card.id != old.id and card.last4 == new_number[-4:] and card.bank_name == "中国建设银行"
    with services.Session() as db:
        assert db.get(BankCard, old.id).is_current is False
    [row] = _audit(services, "worker.card_replace")
    assert new_number not in row.detail and mask_card_number(new_number) in row.detail
    assert mask_card_number(old.last4) in row.detail
    page = project_client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    assert mask_card_number(new_number) in page and new_number not in page


@pytest.mark.parametrize("case", ["closed", "another holder", "unknown"])
def test_a_card_the_bank_refuses_is_not_stored(project_client, services, site, bank, case):
    """The bank checks the new card before it is stored: closed, in another name or unknown to the
    bank, it is refused with the bank's reason in words; the current card stays, nothing is written."""
    pw_id, worker_id = site["pw_ids"][0], site["worker_ids"][0]
    old, before = _current(services, worker_id), _counts(services)
    number = generate_card_number(random.Random(len(case)), "621700")
    name = _worker_name(services, worker_id)
    if case != "unknown":
        bank.admin("cards", [{"number": number, "holder_name": name if case == "closed" else "别的人",
                              "status": "closed" if case == "closed" else "open"}])
    response = project_client.post(f"/project/workers/{pw_id}/card", data={
        "bank_name": "中国建设银行", "card_number": number, "password": PASSWORDS["project"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'data-field="card_number"' in page
    reason = {"closed": "工资卡已销户。", "another holder": "姓名与工资卡持卡人不一致。", "unknown": "银行查无此工资卡。"}[case]
    assert "银行核验未通过" in page and reason in page, page[page.find("card_number"):][:800]
    assert number not in page and "CLOSED" not in page and "NOT_FOUND" not in page
    assert _current(services, worker_id).id == old.id and _counts(services) == before
    assert _audit(services, "worker.card_replace") == []


def test_a_card_is_not_stored_while_the_bank_cannot_check_it(project_client, app, services, site):
    pw_id, worker_id = site["pw_ids"][0], site["worker_ids"][0]
    old, before = _current(services, worker_id), _counts(services)
    app.extensions["shiming"][BANK_CONNECTOR] = HttpBankConnector(f"http://127.0.0.1:{free_port()}", timeout=2)
    number = generate_card_number(random.Random(96), "621700")
    response = project_client.post(f"/project/workers/{pw_id}/card", data={
        "bank_name": "中国建设银行", "card_number": number, "password": PASSWORDS["project"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "暂时无法连接银行核验此卡" in page and number not in page
    assert _current(services, worker_id).id == old.id and _counts(services) == before
    assert _audit(services, "worker.card_replace") == []


@pytest.fixture(scope="module")
def exchange_bank(tmp_path_factory):
    """The reference bank on an exchange folder pair (no HTTP for the platform)."""
    base = tmp_path_factory.mktemp("card-exchange")
    process = BankProcess(base / "bank", "--exchange-dir", str(base / "exchange"))
    process.start()
    try:
        yield base / "exchange", process
    finally:
        process.stop()


def test_with_an_exchange_folder_the_card_is_checked_through_it(services, bridge, site, exchange_bank, tmp_path):
    """SHIMING_BANK_EXCHANGE_DIR set: the web asks the bank through the folder, trusting only answers
    signed by the pinned bank keys (SHIMING_BANK_KEYS_FILE)."""
    folder, bank = exchange_bank
    svc = Services.build(make_settings(tmp_path, bank_exchange_dir=str(folder), bank_keys_file=str(bank.keys_file)))
    try:
        client = create_app(svc, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
        assert login(client, "project").status_code == 302
        pw_id, worker_id = site["pw_ids"][0], site["worker_ids"][0]
        old, name = _current(services, worker_id), _worker_name(services, worker_id)
        closed, good = generate_card_number(random.Random(91), "621700"), generate_card_number(random.Random(92), "621700")
        bank.admin("cards", [{"number": closed, "holder_name": name, "status": "closed"},
                             {"number": good, "holder_name": name, "status": "open"}])
        response = client.post(f"/project/workers/{pw_id}/card", data={
            "bank_name": "中国建设银行", "card_number": closed, "password": PASSWORDS["project"]})
        assert response.status_code == 422 and "工资卡已销户。" in response.get_data(as_text=True)
        assert _current(services, worker_id).id == old.id
        response = client.post(f"/project/workers/{pw_id}/card", data={
            "bank_name": "中国建设银行", "card_number": good, "password": PASSWORDS["project"]})
        assert response.status_code == 302 and _current(services, worker_id).last4 == good[-4:]
        assert list((folder / "outgoing").glob("*.acct.json")) == []  # answered and cleaned up
    finally:
        svc.engine.dispose()


def test_a_wrong_password_or_a_bad_card_number_changes_nothing(project_client, services, site):
    pw_id, worker_id = site["pw_ids"][0], site["worker_ids"][0]
    old = _current(services, worker_id)
    good = generate_card_number(random.Random(98))
    response = project_client.post(f"/project/workers/{pw_id}/card", data={
        "bank_name": "中国银行", "card_number": good, "password": "Wrong2026x!"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert good not in page  # never echoed, even to its author
    assert "flash-error" in page and "4" in page  # attempts left before the lockout
    [failure] = _audit(services, "auth.reauth_failure")
    assert '"bank_card"' in failure.detail
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    response = project_client.post(f"/project/workers/{pw_id}/card", data={
        "bank_name": "中国银行", "card_number": bad, "password": PASSWORDS["project"]})
    assert response.status_code == 422 and "has-error" in response.get_data(as_text=True)
    assert bad not in response.get_data(as_text=True)
    # another worker's current card, on this project or on another one (outside the account's scope)
    taken = wf.card_number_of(services.cipher, _current(services, site["worker_ids"][1]))
    for number in (taken, site["other_card"]):
        response = project_client.post(f"/project/workers/{pw_id}/card", data={
            "bank_name": "中国银行", "card_number": number, "password": PASSWORDS["project"]})
        assert response.status_code == 422 and 'data-field="card_number"' in response.get_data(as_text=True)
        assert number not in response.get_data(as_text=True)
    assert _current(services, worker_id).id == old.id
    assert _audit(services, "worker.card_replace") == []


def test_wrong_passwords_lock_the_account_and_end_the_session(project_client, services, site):
    pw_id, worker_id = site["pw_ids"][0], site["worker_ids"][0]
    old = _current(services, worker_id)
    data = {"bank_name": "中国银行", "card_number": generate_card_number(random.Random(97)), "password": "Wrong2026x!"}
    for _attempt in range(4):
        assert project_client.post(f"/project/workers/{pw_id}/card", data=data).status_code == 422
    response = project_client.post(f"/project/workers/{pw_id}/card", data=data)
    assert response.status_code == 302 and response.headers["Location"].split("?")[0].endswith("/login")
    with services.Session() as db:
        assert db.scalar(select(Account.locked_until).where(Account.username == "project")) is not None
    assert project_client.get("/project/workers").status_code == 302  # logged out
    assert _current(services, worker_id).id == old.id
    assert len(_audit(services, "auth.lockout")) == 1


# ---- exit -------------------------------------------------------------------------------------------


def test_requesting_an_exit_marks_it_and_starts_the_process(project_client, services, site, bridge):
    pw_id = site["pw_ids"][0]
    page = project_client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    assert 'id="request-exit"' in page and 'id="months-without-run"' in page  # punched in 2026-10, no run yet
    assert project_client.post(f"/project/workers/{pw_id}/exit", data={"reason": " "}).status_code == 302
    assert bridge.calls == 0
    response = project_client.post(f"/project/workers/{pw_id}/exit", data={"reason": "合同期满"})
    assert response.status_code == 302
    [started] = bridge.client.started
    assert started["workflow"] == WorkerExitWorkflow.run and started["id"] == f"worker-exit-{pw_id}"
    assert (started["arg"].project_worker_id, started["arg"].requested_by) == \
           (pw_id, _account_id(services, "project"))
    with services.Session() as db:
        pw = db.get(ProjectWorker, pw_id)
        assert pw.status == "exiting" and pw.exit_workflow_id == f"worker-exit-{pw_id}"
    [row] = _audit(services, "worker.exit_request")
    assert row.reason == "合同期满"

    # a second request is refused; the page shows the process state and the withdrawal form
    response = project_client.post(f"/project/workers/{pw_id}/exit", data={"reason": "再次"}, follow_redirects=True)
    assert "flash-error" in response.get_data(as_text=True)
    assert len(bridge.client.started) == 1
    bridge.client.executions[f"worker-exit-{pw_id}"] = FakeExecution(
        f"worker-exit-{pw_id}", workflow_type="WorkerExitWorkflow",
        view=WorkerExitStatus(ExitState.WAITING, 0, 0, ["2026-10"], checks=1))
    page = project_client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    assert 'data-exit-state="waiting"' in page and 'id="cancel-exit"' in page and 'id="recheck-exit"' in page

    # withdrawal: reason required, then the update goes to the process
    project_client.post(f"/project/workers/{pw_id}/exit/cancel", data={"reason": ""})
    assert bridge.updates == []
    assert project_client.post(f"/project/workers/{pw_id}/exit/cancel",
                               data={"reason": "续签合同"}).status_code == 302
    [(workflow_id, update, arg)] = bridge.updates
    assert workflow_id == f"worker-exit-{pw_id}" and update == WorkerExitWorkflow.cancel_exit
    assert arg == CancelExitRequest(_account_id(services, "project"), "续签合同")


def test_an_exit_whose_start_failed_can_be_started_again(project_client, services, site, bridge):
    pw_id = site["pw_ids"][0]
    bridge.down = True
    project_client.post(f"/project/workers/{pw_id}/exit", data={"reason": "合同期满"})
    page = project_client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    assert 'id="start-exit"' in page
    bridge.down = False
    assert project_client.post(f"/project/workers/{pw_id}/exit/start").status_code == 302
    assert [s["id"] for s in bridge.client.started] == [f"worker-exit-{pw_id}"]


def _account_id(services, username: str) -> int:
    with services.Session() as db:
        return db.scalar(select(Account.id).where(Account.username == username))


def test_an_exited_worker_shows_the_revocation_until_the_devices_apply_it(project_client, services, site):
    from domain import worker_exit as wx
    from domain.models import SiteAccessRevocation, utcnow

    pw_id = site["pw_ids"][0]
    project_client.post(f"/project/workers/{pw_id}/exit", data={"reason": "合同期满"})
    with services.Session.begin() as db:
        wx.finish_exit(db, pw_id, utcnow(), f"worker-exit-{pw_id}")
    page = project_client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    assert 'data-status="exited"' in page and 'data-consumed="no"' in page and 'id="request-exit"' not in page
    with services.Session.begin() as db:
        db.scalar(select(SiteAccessRevocation).where(SiteAccessRevocation.project_worker_id == pw_id)).consumed_at = utcnow()
    assert 'data-consumed="yes"' in project_client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    response = project_client.post(f"/project/workers/{pw_id}/exit", data={"reason": "再次"}, follow_redirects=True)
    assert "flash-error" in response.get_data(as_text=True)


def _company_account(services, site, team_name: str, collect: bool) -> tuple[int, int]:
    """A company account whose company employs the team `team_name` of the demo project."""
    from domain.passwords import hash_password

    with services.Session.begin() as db:
        team = db.scalar(select(Team).where(Team.project_id == site["project_id"], Team.name == team_name))
        company = db.get(Company, team.company_id)
        company.kind = CompanyKind.LABOUR_COMPANY
        account = Account(username=f"co{company.id}{int(collect)}", display_name="劳务企业账号",
                          password_hash=hash_password("Company2026x"), role=Role.COMPANY,
                          project_id=site["project_id"], company_id=company.id, can_collect=collect, can_login=True)
        db.add(account)
        db.flush()
        return account.id, company.id


def test_a_company_account_sees_its_own_workers_and_collects_into_its_own_teams(client, services, site):
    """ACC-2: a labour company's account, with the "collect" permission, enrols workers into its teams only."""
    from tests.helpers.web_app import enter_session

    own_team, other_team = TEAMS[0], TEAMS[2]  # the seed: teams 0 and 1 are the labour company's, 2 the contractor's
    account_id, company_id = _company_account(services, site, own_team, collect=True)
    with services.Session() as db:
        username = db.get(Account, account_id).username
        own_workers = db.scalar(select(func.count()).select_from(ProjectWorker).where(
            ProjectWorker.project_id == site["project_id"], ProjectWorker.company_id == company_id))
    enter_session(client, services, username)
    page = client.get("/project/workers").get_data(as_text=True)
    assert page.count('data-worker-id="') == own_workers and 'id="roster-import"' in page
    for pw_id in site["pw_ids"]:  # another company's worker of the same project answers 404
        with services.Session() as db:
            mine = db.get(ProjectWorker, pw_id).company_id == company_id
        assert client.get(f"/project/workers/{pw_id}").status_code == (200 if mine else 404)
    assert client.get(f"/project/workers/{site['pw_ids'][0]}/card").status_code == 403  # cards: the labour specialist

    rows = _rows(2)
    rows[0][3], rows[1][3] = own_team, other_team
    refused = client.post("/project/roster", data={"roster": upload(_roster(rows), "roster.xlsx")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422
    report = client.get("/project/roster/errors.xlsx")
    assert report.status_code == 200
    cells = [c.value for row in load_workbook(io.BytesIO(report.get_data())).active.iter_rows() for c in row]
    assert other_team in cells or any(other_team in str(c) for c in cells if c)
    rows[1][3] = own_team
    done = client.post("/project/roster", data={"roster": upload(_roster(rows), "roster.xlsx")},
                       content_type="multipart/form-data")
    assert done.status_code == 302
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(ProjectWorker).where(
            ProjectWorker.company_id == company_id)) == own_workers + 2


def test_a_company_account_without_collect_cannot_import(client, services, site):
    from tests.helpers.web_app import enter_session

    account_id, _company = _company_account(services, site, TEAMS[0], collect=False)
    with services.Session() as db:
        username = db.get(Account, account_id).username
    enter_session(client, services, username)
    assert client.get("/project/workers").status_code == 200
    assert 'id="roster-import"' not in client.get("/project/workers").get_data(as_text=True)
    assert client.get("/project/roster").status_code == 403
    assert client.post("/project/roster", data={}).status_code == 403
