"""PAY-2 end to end: a payroll specialist binds the project's wage special account in a real browser.

Real processes: Temporal dev server, worker, web app and the reference bank (`shiming bank`) with
its ledger. An account with a wrong name is refused by the bank and the page says why; the right
one is confirmed by the bank, the agreement is accepted with the security password, the account
is bound and the next wage run uses it.
"""
from __future__ import annotations


import pytest
from sqlalchemy import select

from domain import wage_account as wa
from domain.models import Account, Project, WageAccount
from domain.wage_run import open_run
from tests.helpers.wage_files import LEDGER
from tests.helpers.wage_files import PAYER_ACCOUNT, PAYER_NAME
from tests.helpers.browser import login
from tests.helpers.stack import start_stack
from tests.helpers.wage_scenario import create_payroll_specialist
from tests.helpers.waiting import reload_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOGIN_PASSWORD = "Login2026x"
SECURITY_PASSWORD = "Anquan2026a"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("binding")
    s = start_stack(home, web=False, worker=False)
    try:
        s.pin_bank_keys()
        _proc, s.extra_env["SHIMING_BANK_URL"] = s.start_bank(LEDGER)
        s.start_worker()
        s.start_web()
        with s.services.Session() as session:
            s.project_id = session.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))
        s.specialist_id = create_payroll_specialist(s.services, "payroll_a", s.project_id,
                                                    login_password=LOGIN_PASSWORD, security_password=SECURITY_PASSWORD)
    except BaseException:
        print(s.logs())
        s.stop()
        raise
    yield s
    s.stop()


def add_account(page, base: str, number: str, name: str) -> None:
    page.goto(f"{base}/payroll/accounts")
    page.select_option("#bank_code", "REFBANK")
    page.fill("#account_number", number)
    page.fill("#account_name", name)
    page.fill("#add-login-password", LOGIN_PASSWORD)
    page.fill("#add-security-password", SECURITY_PASSWORD)
    page.click("#add-account")


def test_wrong_name_is_refused_with_the_reason_and_the_right_account_is_bound(stack, browser):
    base, services = stack.web_url, stack.services
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    try:
        login(page, base, "payroll_a", LOGIN_PASSWORD)
        page.goto(f"{base}/payroll/")
        page.click("#wage-accounts-link")
        assert page.locator("#add-account-form").count() == 1

        # a wrong account name: the bank refuses and the page says why
        add_account(page, base, PAYER_ACCOUNT, "某某项目部工资专户")
        assert "/payroll/accounts/" in page.url
        reload_until(page, lambda: page.locator("#account-facts[data-status=refused]").count() == 1,
                     "the bank's refusal")
        assert "账户名称与银行记录不符" in page.inner_text("#refusal-reason")
        assert PAYER_ACCOUNT not in page.content() and "**** " + PAYER_ACCOUNT[-4:] in page.content()
        page.goto(f"{base}/payroll/accounts")
        assert "账户名称与银行记录不符" in page.inner_text("#account-table tr[data-status=refused] .refusal-reason")

        # the right name: the bank confirms, the agreement is accepted with the security password
        add_account(page, base, PAYER_ACCOUNT, PAYER_NAME)
        reload_until(page, lambda: page.locator("#accept-form").count() == 1, "the agreement")
        page.fill("#accept-security-password", "wrong-password-1")
        page.click("#accept-agreement")
        assert page.locator(".flash-error").count() >= 1 and page.locator("#accept-form").count() == 1
        page.fill("#accept-security-password", SECURITY_PASSWORD)
        page.click("#accept-agreement")
        reload_until(page, lambda: page.locator("#account-facts[data-status=bound]").count() == 1, "the binding")
        assert page.locator("#account-bound").count() == 1
    finally:
        ctx.close()

    with services.Session() as session:
        rows = session.scalars(select(WageAccount).where(WageAccount.project_id == stack.project_id)
                               .order_by(WageAccount.id)).all()
        assert [(r.status, r.refusal_reason.split(":")[0] if r.refusal_reason else None) for r in rows] == [
            (wa.REFUSED, "NAME_MISMATCH"), (wa.BOUND, None)]
        assert rows[1].bound_by == stack.specialist_id and rows[1].agreement_accepted_at is not None
        bound_id = rows[1].id
    with services.Session.begin() as session:
        run = open_run(session, stack.project_id, "2026-10", session.get(Account, stack.specialist_id))
        assert run.wage_account_id == bound_id
