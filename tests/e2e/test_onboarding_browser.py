"""ACC-6 end to end: a new project from its registration to paid wages, through the pages only.

One story in a real browser against real processes (Temporal dev server, worker, web app and the
reference bank): the applicant registers a project whose general contractor has no account yet →
the bureau approves it → the administrator creates the contractor's enterprise account, which
takes the project over by credit code → the enterprise appoints two payroll specialists → they
set their security passwords → one binds the wage account → a wage run is paid by the bank.

Outside the pages, only what is not the platform's: the SMS outbox (the project's credentials),
the project's workers and attendance (enrolment is tested elsewhere), and the reference bank's
own ledger (the wage account and the workers' cards exist at the bank).
"""
from __future__ import annotations

import json
import re
import urllib.request

import pytest
from sqlalchemy import select

from domain import workforce
from domain.models import (
    Account, Enterprise, Notification, Project, ProjectWorker, RegistrationApplication, WageLine, WageRun, Worker,
)
from domain.notify import read_body
from shiming.seed import demo_credit_code
from shiming.seed_workforce import seed_workforce
from tests.helpers.browser import login, open_task_from_queue, wait_attr, wait_until
from tests.helpers.scan_samples import minimal_pdf, minimal_png
from tests.helpers.stack import start_wage_stack
from tests.helpers.wage_run_processes import scenario_ledger
from tests.helpers.wage_scenario import MONTH
from tests.helpers.waiting import reload_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONTRACTOR_CODE = demo_credit_code("91450100MA5K9XY52")  # no enterprise has it when the project registers
CONTRACTOR_NAME = "广西入驻测试总包有限公司"
PROJECT_NAME = "入驻流程测试安置房项目"
PHONE = "13877775555"
WAGE_ACCOUNT = "6222020000099990001"
WAGE_ACCOUNT_NAME = "入驻流程测试项目农民工工资专用账户"
SPECIALISTS = {"gz_jia": ("Gongzi2027jia", "Anquan2027jia"), "gz_yi": ("Gongzi2027yi", "Anquan2027yi")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The processes of a wage run (platform, worker, bank) over the demo data's wage scenario."""
    s = start_wage_stack(tmp_path_factory.mktemp("wage"), scenario_ledger, "--retry-cap", "1")
    yield s
    s.stop()


def _first_login(page, base: str, username: str, initial: str, chosen: str) -> None:
    """Log in with an initial password and replace it, as every new account must."""
    login(page, base, username, initial)
    page.wait_for_selector("#must-change")
    page.goto(f"{base}/password")
    page.fill("input[name=current_password]", initial)
    page.fill("input[name=new_password]", chosen)
    page.fill("input[name=confirm_password]", chosen)
    page.click("#change-password")
    assert page.locator("#must-change").count() == 0


def _initial_password(page) -> str:
    text = page.inner_text("#initial-password").strip()
    assert text
    return text


def _bank_admin(stack, what: str, items: list[dict]) -> None:
    """The reference bank's own ledger (the bank's side, not the platform's)."""
    urllib.request.urlopen(urllib.request.Request(
        f"{stack.bank_url}/api/v1/admin/{what}", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps(items).encode()), timeout=10)


# The story's chapters, in file order; each state-changing step is a module fixture the next chapter
# builds on, so a chapter run alone still finds the project where it expects it.


@pytest.fixture(scope="module")
def person(browser):
    """A new browser context (one person) at 1366x768 in Chinese; all closed at the end."""
    contexts = []

    def new_person():
        ctx = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1366, "height": 768})
        contexts.append(ctx)
        return ctx.new_page()

    yield new_person
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="module")
def approved(stack, person, tmp_path_factory) -> dict:
    """The applicant registers the project (no account) and uploads the scan; the bureau approves
    it; the SMS outbox holds the project account's credentials."""
    base, services = stack.web_url, stack.services
    scan = tmp_path_factory.mktemp("onboarding") / "stamped.png"
    scan.write_bytes(minimal_png(64, 64))
    page = person()
    page.goto(f"{base}/register/")
    for name, value in (("name", PROJECT_NAME), ("address", "南宁市青秀区入驻路2号"),
                        ("builder_name", "入驻测试建设单位"), ("builder_credit_code", demo_credit_code("12450100MB0000051")),
                        ("contractor_name", CONTRACTOR_NAME), ("contractor_credit_code", CONTRACTOR_CODE),
                        ("owner_name", "入驻测试业主单位"), ("owner_credit_code", demo_credit_code("12450100MB0000052")),
                        ("contract_value", "8800000.00"), ("planned_start", "2026-09-01"),
                        ("planned_end", "2027-12-31"), ("contact_name", "入驻联系人"), ("contact_phone", PHONE)):
        page.fill(f"input[name={name}]", value)
    page.select_option("select[name=district_id]", label="南宁市青秀区")
    page.click("#submit-registration")
    number = page.get_attribute("#application-number", "data-number")
    page.set_input_files("input[name=scan]", str(scan))
    page.click("#upload-scan")
    wait_attr(page, "#application-status", "data-status", "in_review", "the application to be in review")

    reviewer = person()
    login(reviewer, base, "reviewer", "Review2026!")
    open_task_from_queue(reviewer, base, number)
    task_url = reviewer.url
    reviewer.click("#claim")
    reviewer.wait_for_selector("#approve")
    reviewer.click("#approve")
    reviewer.goto(task_url)
    wait_attr(reviewer, "#task-state", "data-application-status", "approved", "the approval")

    def credentials():
        with services.Session() as session:
            row = session.scalar(select(Notification).where(Notification.template == "registration_approved")
                                 .order_by(Notification.id.desc()))
            return read_body(services.cipher, row) if row else None

    sms = wait_until(credentials, "the credentials SMS").split("|")
    with services.Session() as session:
        project = session.scalar(select(Project).join(RegistrationApplication, RegistrationApplication.project_id == Project.id)
                                 .where(RegistrationApplication.number == number))
        project_id, project_code, enterprise_id = project.id, project.code, project.enterprise_id
    return {"number": number, "sms": sms, "project_id": project_id, "project_code": project_code,
            "enterprise_at_approval": enterprise_id}


def test_the_approved_project_has_its_account_by_sms_and_no_enterprise_yet(approved):
    assert approved["number"] and approved["number"].startswith("REG")
    assert approved["sms"][0] == approved["number"]
    assert approved["enterprise_at_approval"] is None  # the contractor has no enterprise on the platform yet


@pytest.fixture(scope="module")
def project_page(stack, person, approved):
    """The project account after its first login (initial password replaced)."""
    _number, project_username, project_password, _link = approved["sms"]
    page = person()
    _first_login(page, stack.web_url, project_username, project_password, "Xiangmu2027x")
    return page


def test_the_project_account_may_appoint_payroll_specialists_while_the_enterprise_has_no_account(stack, project_page):
    project_page.goto(f"{stack.web_url}/accounts/")
    assert project_page.locator("#create-account-form select[name=role] option[value=payroll_specialist]").count() == 1


@pytest.fixture(scope="module")
def enterprise(stack, person, approved, project_page) -> dict:
    """The administrator creates the contractor's enterprise account (by credit code); its initial password."""
    admin = person()
    login(admin, stack.web_url, "admin", "Admin2026!")
    admin.goto(f"{stack.web_url}/accounts/")
    admin.fill("input[name=username]", "rz_zongbao")
    admin.fill("input[name=display_name]", CONTRACTOR_NAME)
    admin.select_option("select[name=role]", "enterprise")
    admin.fill("input[name=enterprise_credit_code]", CONTRACTOR_CODE)
    admin.fill("input[name=enterprise_name]", CONTRACTOR_NAME)
    admin.click("#create-account")
    password = _initial_password(admin)
    with stack.services.Session() as session:
        enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.credit_code == CONTRACTOR_CODE))
    return {**approved, "enterprise_id": enterprise_id, "password": password}


def test_the_enterprise_account_takes_the_project_over_and_appoints_from_now_on(stack, project_page, enterprise):
    with stack.services.Session() as session:
        # taken over by credit code
        assert session.get(Project, enterprise["project_id"]).enterprise_id == enterprise["enterprise_id"]
    # from now on the enterprise appoints them, not the project account
    project_page.goto(f"{stack.web_url}/accounts/")
    assert project_page.locator("select[name=role] option[value=payroll_specialist]").count() == 0


@pytest.fixture(scope="module")
def appointed(stack, person, enterprise) -> dict:
    """The enterprise appoints two payroll specialists for the project; their initial passwords."""
    base = stack.web_url
    ent = person()
    _first_login(ent, base, "rz_zongbao", enterprise["password"], "Qiye2027xyz")
    initial = {}
    for username in SPECIALISTS:
        ent.goto(f"{base}/accounts/")
        ent.fill("input[name=username]", username)
        ent.fill("input[name=display_name]", f"工资专员{username[3:]}")
        ent.select_option("select[name=role]", "payroll_specialist")
        ent.check(f"input[name=project_ids][value='{enterprise['project_id']}']")
        ent.click("#create-account")
        initial[username] = _initial_password(ent)
    return {**enterprise, "ent": ent, "initial": initial}


def test_the_enterprise_lists_its_two_specialists_of_the_project(stack, appointed):
    ent = appointed["ent"]
    ent.goto(f"{stack.web_url}/accounts/")
    for username in SPECIALISTS:
        row = ent.locator(f"#account-table tr[data-username={username}]")
        assert row.get_attribute("data-role") == "payroll_specialist" and appointed["project_code"] in row.inner_text()


@pytest.fixture(scope="module")
def specialists(stack, person, appointed) -> dict:
    """Each specialist replaces the initial password and sets a security password; username → (page,
    security-password-missing marks left)."""
    out = {}
    for username, (login_password, security_password) in SPECIALISTS.items():
        p = person()
        _first_login(p, stack.web_url, username, appointed["initial"][username], login_password)
        p.goto(f"{stack.web_url}/payroll/")
        p.click("#set-security-password")
        p.fill("#new_password", security_password)
        p.fill("#confirm_password", security_password)
        p.click("#save-security-password")
        out[username] = (p, p.locator("#security-password-missing").count())
    return out


def test_each_specialist_sets_a_security_password(specialists):
    for username, (_page, missing) in specialists.items():
        assert missing == 0, username


@pytest.fixture(scope="module")
def bound(stack, approved, specialists):
    """What is not the platform's (the workers and their attendance, the bank's own ledger), then
    specialist 甲 binds the project's wage account through the pages."""
    services, project_id = stack.services, approved["project_id"]
    seed_workforce(services, project_id, workers=3, month=MONTH)
    with services.Session() as session:
        workers = session.scalars(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                                  .where(ProjectWorker.project_id == project_id)).all()
        cards = [{"number": workforce.card_number_of(services.cipher, workforce.current_card(session, w.id)),
                  "holder_name": w.name, "status": "open"} for w in workers]
    _bank_admin(stack, "accounts", [{"number": WAGE_ACCOUNT, "name": WAGE_ACCOUNT_NAME, "kind": "wage", "status": "open"}])
    _bank_admin(stack, "cards", cards)
    jia = specialists["gz_jia"][0]
    jia.goto(f"{stack.web_url}/payroll/accounts")
    jia.select_option("#bank_code", "REFBANK")
    jia.fill("#account_number", WAGE_ACCOUNT)
    jia.fill("#account_name", WAGE_ACCOUNT_NAME)
    jia.fill("#add-login-password", SPECIALISTS["gz_jia"][0])
    jia.fill("#add-security-password", SPECIALISTS["gz_jia"][1])
    jia.click("#add-account")
    reload_until(jia, lambda: jia.locator("#accept-form").count() == 1, "the bank's confirmation and the agreement")
    jia.fill("#accept-security-password", SPECIALISTS["gz_jia"][1])
    jia.click("#accept-agreement")
    reload_until(jia, lambda: jia.locator("#account-facts[data-status=bound]").count() == 1, "the binding")


@pytest.fixture(scope="module")
def run_opened(stack, specialists, bound) -> dict:
    """甲 opens MONTH's run; the process waits for the wage table."""
    jia = specialists["gz_jia"][0]
    jia.goto(f"{stack.web_url}/payroll/")
    jia.fill("input[name=month]", MONTH)
    jia.click("#open-run")
    run_url = jia.url
    reload_until(jia, lambda: jia.locator("#wage-table-form").count() == 1, "the process to wait for the wage table")
    return {"run_url": run_url, "steps": jia.inner_text("#run-steps")}


def test_the_bound_account_opens_a_run_whose_steps_are_numbered_once(run_opened):
    assert "/payroll/run/" in run_opened["run_url"]
    assert not re.search(r"\d\.\s*\d", run_opened["steps"])  # the step list is numbered once


def test_the_two_specialists_pay_the_run_through_the_pages(stack, approved, enterprise, specialists, run_opened,
                                                           tmp_path):
    """甲 uploads the table and the signed sheet, 乙 sends the wage file; the bank pays every line."""
    jia, yi = specialists["gz_jia"][0], specialists["gz_yi"][0]
    run_url, services, project_id = run_opened["run_url"], stack.services, approved["project_id"]
    sheet = tmp_path / "signed-sheet.pdf"
    sheet.write_bytes(minimal_pdf())
    with jia.expect_download() as dl:
        jia.click("#download-table")
    table = tmp_path / "table.xlsx"
    dl.value.save_as(table)
    jia.set_input_files("#table", str(table))
    jia.fill("#table-security-password", SPECIALISTS["gz_jia"][1])
    jia.click("#submit-wage-table")
    jia.goto(run_url)
    reload_until(jia, lambda: jia.locator("#signed-sheet-form").count() == 1, "step 2")
    jia.set_input_files("#sheet", str(sheet))
    jia.fill("#sheet-security-password", SPECIALISTS["gz_jia"][1])
    jia.click("#submit-signed-sheet")
    jia.goto(run_url)
    reload_until(jia, lambda: jia.locator("#maker-checker-me").count() == 1, "step 3")

    yi.goto(run_url)
    reload_until(yi, lambda: yi.locator("#wage-file-form").count() == 1, "the bank file form")
    yi.fill("#wage-file-security-password", SPECIALISTS["gz_yi"][1])
    yi.click("#submit-wage-file")
    yi.goto(run_url)
    reload_until(yi, lambda: yi.get_attribute("#run-state", "data-status") == "completed", "the run to be paid", 120)
    assert yi.locator("#line-table tr[data-status=paid]").count() == 3
    assert yi.locator("#line-table tr:not([data-status=paid])[data-line-id]").count() == 0

    with services.Session() as session:
        run = session.scalar(select(WageRun).where(WageRun.project_id == project_id, WageRun.month == MONTH))
        statuses = set(session.scalars(select(WageLine.status).where(WageLine.run_id == run.id)))
        assert run.status == "completed" and statuses == {"paid"}
        appointed = session.scalars(select(Account).where(Account.username.in_(list(SPECIALISTS)))).all()
        assert {a.project_id for a in appointed} == {project_id}
        assert {a.enterprise_id for a in appointed} == {enterprise["enterprise_id"]}
