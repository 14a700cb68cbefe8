"""User management (ACC-1, ACC-2, ACC-4) and separation of duties, through the pages."""
from __future__ import annotations

import re

from sqlalchemy import select

from domain.models import (
    Account, AccountProject, AuditLog, Company, CompanyKind, District, Enterprise, Project, RegistrationApplication,
    Role,
)
from domain import registration as reg
from tests.helpers.web_app import create_registration, enter_session, login


def _english(client, services, username):
    enter_session(client, services, username)
    client.get("/lang/en")
    return client


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def _created_password(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return re.search(r'id="initial-password">([^<]+)<', response.get_data(as_text=True)).group(1)


def _account(services, username) -> Account:
    with services.Session() as db:
        return db.scalar(select(Account).where(Account.username == username))


def _audit(services, action):
    with services.Session() as db:
        return db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def _second_project(services, enterprise: bool) -> int:
    case = create_registration(services)
    with services.Session.begin() as db:
        project = reg.approve(db, services.cipher, db.get(RegistrationApplication, case["id"]))[0]
        if enterprise:
            project.enterprise_id = _account(services, "enterprise").enterprise_id
        db.flush()
        return project.id


def _demo_project(services) -> int:
    with services.Session.begin() as db:
        project = db.scalar(select(Project).order_by(Project.id))
        project.enterprise_id = db.scalar(select(Account.enterprise_id).where(Account.username == "enterprise"))
        return project.id


def test_admin_initialises_bureau_and_supervisory_accounts(client, services):
    _english(client, services, "admin")
    assert 'id="create-account-form"' in _page(client, "/accounts/")
    with services.Session() as db:
        district = db.scalar(select(District.id).where(District.code == "450107"))
    no_district = client.post("/accounts/new", data={"username": "rev9", "display_name": "新审核", "role": Role.BUREAU_REVIEWER,
                                                    "district_id": 0, "reviewer_enterprise_id": 0, "company_id": 0})
    assert no_district.status_code == 422 and "Choose the district" in no_district.get_data(as_text=True)
    password = _created_password(client.post("/accounts/new", data={
        "username": "rev9", "display_name": "新审核", "role": Role.BUREAU_REVIEWER, "district_id": district,
        "reviewer_enterprise_id": 0, "company_id": 0}))
    made = _account(services, "rev9")
    assert made.role == Role.BUREAU_REVIEWER and made.district_id == district and made.must_change_password
    assert _created_password(client.post("/accounts/new", data={
        "username": "sup2", "display_name": "监管", "role": Role.SUPERVISOR, "district_id": 0,
        "reviewer_enterprise_id": 0, "company_id": 0}))
    # the admin cannot make an enterprise-side account
    refused = client.post("/accounts/new", data={"username": "p9", "display_name": "x", "role": Role.PROJECT,
                                                "district_id": 0, "reviewer_enterprise_id": 0, "company_id": 0})
    assert refused.status_code == 422
    assert [r.target_id for r in _audit(services, "account.create")] == [str(made.id), str(_account(services, "sup2").id)]
    # the new account logs in with the password shown once and must change it first
    other = client.application.test_client()
    response = login(other, "rev9", password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/password")


def test_enterprise_allocates_project_accounts_to_its_own_projects(client, services):
    own = _demo_project(services)
    second = _second_project(services, enterprise=True)
    foreign = _second_project(services, enterprise=False)
    _english(client, services, "enterprise")
    page = _page(client, "/accounts/")
    assert f'value="{own}"' in page and f'value="{second}"' in page and f'value="{foreign}"' not in page
    base = {"display_name": "项目部二", "role": Role.PROJECT, "district_id": 0, "reviewer_enterprise_id": 0,
            "company_id": 0}
    bad = client.post("/accounts/new", data={**base, "username": "pm2", "project_ids": [own, foreign]})
    assert bad.status_code == 422  # a project of another enterprise is not a choice
    assert _account(services, "pm2") is None
    _created_password(client.post("/accounts/new", data={**base, "username": "pm2", "project_ids": [own, second],
                                                         "can_allocate_projects": "y"}))
    pm2 = _account(services, "pm2")
    assert pm2.project_id == own and pm2.can_allocate_projects and pm2.created_by == _account(services, "enterprise").id
    with services.Session() as db:
        assert db.scalars(select(AccountProject.project_id).where(AccountProject.account_id == pm2.id)).all() == [second]
    one = client.post("/accounts/new", data={**base, "username": "pay2", "role": Role.PAYROLL_SPECIALIST,
                                             "project_ids": [own, second]})
    assert one.status_code == 422 and "exactly one project" in one.get_data(as_text=True)
    # project permissions: choose projects again; the account's sessions end (its scope changed)
    assert client.post(f"/accounts/{pm2.id}/projects", data={"project_ids": [second]}).status_code == 302
    after = _account(services, "pm2")
    assert after.project_id == second and after.session_epoch == pm2.session_epoch + 1
    [row] = _audit(services, "account.projects")
    assert row.detail == '{"after": [%d], "before": [%d, %d]}' % (second, own, second)


def test_project_account_creates_company_accounts_and_takes_their_login_away(client, services):
    project_id = _demo_project(services)
    with services.Session.begin() as db:
        labour = Company(project_id=project_id, name="示范劳务", credit_code="91450100MA5K9XYZ8X",
                         kind=CompanyKind.LABOUR_COMPANY)
        db.add(labour)
        db.flush()
        labour_id = labour.id
    _english(client, services, "project")
    base = {"display_name": "劳务公司账号", "role": Role.COMPANY, "district_id": 0, "reviewer_enterprise_id": 0}
    password = _created_password(client.post("/accounts/new", data={
        **base, "username": "labour1", "company_id": labour_id, "can_collect": "y", "can_login": "y"}))
    company = _account(services, "labour1")
    assert (company.project_id, company.company_id, company.can_collect, company.can_login) == \
        (project_id, labour_id, True, True)

    worker_side = client.application.test_client()
    login(worker_side, "labour1", password)
    assert worker_side.get("/password").status_code == 200  # signed in (must change the initial password)
    assert client.post(f"/accounts/{company.id}/permissions", data={"can_collect": "y"}).status_code == 302
    assert _account(services, "labour1").can_login is False
    kicked = worker_side.get("/password")
    assert kicked.status_code == 302 and "/login" in kicked.headers["Location"]
    assert [r.action for r in _audit(services, "account.permissions")] == ["account.permissions"]
    # the enterprise does not manage company accounts: 404, and the attempt is audited
    enterprise = _english(client.application.test_client(), services, "enterprise")
    assert enterprise.get(f"/accounts/{company.id}").status_code == 404
    assert _audit(services, "access.out_of_scope")[-1].target_id == str(company.id)


def test_security_admin_disables_any_account_and_its_sessions_end(client, services):
    reviewer = client.application.test_client()
    login(reviewer, "reviewer", "Review2026!")
    assert reviewer.get("/bureau/inbox").status_code == 200
    _english(client, services, "secadmin")
    target = _account(services, "reviewer")
    no_reason = client.post(f"/accounts/{target.id}/disable", data={"reason": ""})
    assert no_reason.status_code == 302 and _account(services, "reviewer").is_active
    assert client.post(f"/accounts/{target.id}/disable", data={"reason": "调离岗位"}).status_code == 302
    assert _account(services, "reviewer").is_active is False
    gone = reviewer.get("/bureau/inbox")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    [row] = _audit(services, "account.disable")
    assert row.reason == "调离岗位" and row.actor_name == _account(services, "secadmin").display_name
    assert client.post(f"/accounts/{target.id}/enable", data={"reason": "返岗"}).status_code == 302
    assert _account(services, "reviewer").is_active
    # the security administrator does not manage itself, and creates no accounts
    assert client.get(f"/accounts/{_account(services, 'secadmin').id}").status_code == 404
    assert client.post("/accounts/new", data={}).status_code == 403


def test_the_auditor_reads_the_log_and_changes_nothing(client, services):
    _english(client, services, "auditor")
    page = _page(client, "/audit/?action=auth")
    assert 'id="audit-table"' in page
    assert 'data-ok="yes"' in _page(client, "/audit/verify")
    for url in ("/accounts/", "/admin/", "/bureau/inbox"):
        assert client.get(url).status_code == 403
    admin = _english(client.application.test_client(), services, "admin")
    assert admin.get("/audit/").status_code == 403


def test_a_reviewer_cannot_decide_on_a_project_of_their_own_enterprise(client, services, bridge):
    case = create_registration(services)
    with services.Session.begin() as db:
        app = db.get(RegistrationApplication, case["id"])
        enterprise = Enterprise(name="测试总包", credit_code=app.contractor_credit_code)
        db.add(enterprise)
        db.flush()
        db.scalar(select(Account).where(Account.username == "reviewer")).enterprise_id = enterprise.id
    _english(client, services, "reviewer")
    response = client.post(f"/bureau/task/{case['task_id']}/claim", data={"task_id": case["task_id"]},
                           follow_redirects=True)
    assert "own enterprise" in response.get_data(as_text=True)
    assert bridge.calls == 0
    assert _audit(services, "registration.conflict_of_interest")[-1].business_key == case["number"]
    other = _english(client.application.test_client(), services, "reviewer2")
    other.post(f"/bureau/task/{case['task_id']}/claim", data={"task_id": case["task_id"]})
    assert bridge.calls == 1


def test_a_manager_resets_a_password_shown_once_and_the_sessions_end(client, services):
    reviewer = client.application.test_client()
    login(reviewer, "reviewer2", "Review2026!")
    assert reviewer.get("/bureau/inbox").status_code == 200
    _english(client, services, "admin")
    target = _account(services, "reviewer2")
    password = _created_password(client.post(f"/accounts/{target.id}/reset-password"))
    after = _account(services, "reviewer2")
    assert after.must_change_password and after.password_hash != target.password_hash
    assert reviewer.get("/bureau/inbox").status_code == 302  # its session ended
    assert login(client.application.test_client(), "reviewer2", password).headers["Location"].endswith("/password")
    assert [r.target_id for r in _audit(services, "account.password_reset")] == [str(target.id)]
    # the enterprise manages no bureau account: 404
    enterprise = _english(client.application.test_client(), services, "enterprise")
    assert enterprise.post(f"/accounts/{target.id}/reset-password").status_code == 404


def test_the_project_list_follows_the_scope_of_each_role(client, services):
    own = _demo_project(services)
    foreign = _second_project(services, enterprise=False)
    with services.Session() as db:
        codes = {p.id: p.code for p in db.scalars(select(Project))}
    supervisor = _page(_english(client, services, "supervisor"), "/project/")
    assert f'data-project-code="{codes[own]}"' in supervisor and f'data-project-code="{codes[foreign]}"' in supervisor
    enterprise = _page(_english(client.application.test_client(), services, "enterprise"), "/project/")
    assert f'data-project-code="{codes[own]}"' in enterprise and codes[foreign] not in enterprise
    project = _page(_english(client.application.test_client(), services, "project"), "/project/")
    assert f'data-project-code="{codes[own]}"' in project and codes[foreign] not in project
