"""ACC-6: onboarding of a self-registered project through the pages — the project belongs to its
general contractor's enterprise by unified social credit code, the administrator creates the
enterprise account, and the enterprise (or, while it has none, the project account) appoints the
payroll specialists."""
from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from domain import registration as reg
from domain.models import Account, AuditLog, Enterprise, Project, RegistrationApplication, Role
from shiming.seed import demo_credit_code
from tests.helpers.web_app import create_registration, enter_session

NEW_CONTRACTOR = demo_credit_code("91450100MA5K9XY41")
BAD_CODE = NEW_CONTRACTOR[:-1] + ("1" if NEW_CONTRACTOR[-1] != "1" else "2")


def _english(client, services, username):
    with services.Session.begin() as db:  # the first-login password change is tested elsewhere
        db.scalar(select(Account).where(Account.username == username)).must_change_password = False
    enter_session(client, services, username)
    client.get("/lang/en")
    return client


def _approved_project(services, contractor_code: str) -> dict:
    """A registration whose general contractor has `contractor_code`, approved as the process does."""
    case = create_registration(services)
    with services.Session.begin() as db:
        app = db.get(RegistrationApplication, case["id"])
        app.contractor_credit_code = contractor_code
        project, account, _password = reg.approve(db, services.cipher, app)
        return {"project_id": project.id, "code": project.code, "username": account.username}


def _account(services, username) -> Account:
    with services.Session() as db:
        return db.scalar(select(Account).where(Account.username == username))


def _project(services, project_id) -> Project:
    with services.Session() as db:
        return db.get(Project, project_id)


def _demo_enterprise(services) -> Enterprise:
    with services.Session() as db:
        return db.get(Enterprise, _account(services, "enterprise").enterprise_id)


def _created_password(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    return re.search(r'id="initial-password">([^<]+)<', response.get_data(as_text=True)).group(1)


def _new_account(client, **fields):
    data = {"district_id": 0, "reviewer_enterprise_id": 0, "company_id": 0, "enterprise_name": "",
            "enterprise_credit_code": ""}
    data.update(fields)
    return client.post("/accounts/new", data=data)


def test_an_approved_project_belongs_to_the_enterprise_of_its_contractors_credit_code(services):
    enterprise = _demo_enterprise(services)
    made = _approved_project(services, enterprise.credit_code)
    assert _project(services, made["project_id"]).enterprise_id == enterprise.id
    assert _account(services, made["username"]).enterprise_id == enterprise.id
    # a contractor no enterprise has: the project waits for its enterprise account
    other = _approved_project(services, NEW_CONTRACTOR)
    assert _project(services, other["project_id"]).enterprise_id is None


def test_the_administrator_creates_an_enterprise_account_which_takes_over_its_projects(client, services):
    made = _approved_project(services, NEW_CONTRACTOR)
    _english(client, services, "admin")
    page = client.get("/accounts/").get_data(as_text=True)
    assert f'value="{Role.ENTERPRISE}"' in page and 'id="enterprise-fields"' in page
    bad_code = _new_account(client, username="zongbao", display_name="新总包", role=Role.ENTERPRISE,
                            enterprise_name="新总包有限公司", enterprise_credit_code=BAD_CODE)
    assert bad_code.status_code == 422 and "Not a valid unified social credit code." in bad_code.get_data(as_text=True)
    no_name = _new_account(client, username="zongbao", display_name="新总包", role=Role.ENTERPRISE,
                           enterprise_credit_code=NEW_CONTRACTOR)
    assert no_name.status_code == 422 and "enter its name" in no_name.get_data(as_text=True)
    assert _account(services, "zongbao") is None

    assert _created_password(_new_account(client, username="zongbao", display_name="新总包", role=Role.ENTERPRISE,
                                          enterprise_name="新总包有限公司", enterprise_credit_code=NEW_CONTRACTOR))
    account = _account(services, "zongbao")
    with services.Session() as db:
        enterprise = db.scalar(select(Enterprise).where(Enterprise.credit_code == NEW_CONTRACTOR))
        created = db.scalars(select(AuditLog).where(AuditLog.action == "account.create")).all()[-1]
    assert account.role == Role.ENTERPRISE and account.must_change_password
    assert enterprise.name == "新总包有限公司" and account.enterprise_id == enterprise.id
    assert _project(services, made["project_id"]).enterprise_id == enterprise.id
    assert _account(services, made["username"]).enterprise_id == enterprise.id
    detail = json.loads(created.detail)
    assert detail["projects_linked"] == [made["project_id"]] and detail["enterprise_created"] is True
    # the user-management list shows the enterprise account with its projects
    row = re.search(r'<tr data-account-id="%d".*?</tr>' % account.id, client.get("/accounts/").get_data(as_text=True), re.S)
    assert made["code"] in row.group(0)

    # a project registered later with the same contractor belongs to the enterprise at approval
    later = _approved_project(services, NEW_CONTRACTOR)
    assert _project(services, later["project_id"]).enterprise_id == enterprise.id
    # an enterprise that exists already gets its account without a second enterprise row
    assert _created_password(_new_account(client, username="zongbao2", display_name="示范总包二号", role=Role.ENTERPRISE,
                                          enterprise_credit_code=_demo_enterprise(services).credit_code))
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(Enterprise)) == 2
    assert _account(services, "zongbao2").enterprise_id == _demo_enterprise(services).id


def test_the_enterprise_appoints_payroll_specialists_for_a_self_registered_project(client, services):
    made = _approved_project(services, NEW_CONTRACTOR)
    _english(client, services, "admin")
    _created_password(_new_account(client, username="zongbao", display_name="新总包", role=Role.ENTERPRISE,
                                   enterprise_name="新总包有限公司", enterprise_credit_code=NEW_CONTRACTOR))
    enterprise_client = client.application.test_client()
    _english(enterprise_client, services, "zongbao")
    page = enterprise_client.get("/accounts/").get_data(as_text=True)
    assert f'value="{made["project_id"]}"' in page and f'value="{Role.PAYROLL_SPECIALIST}"' in page
    for username in ("gz_a", "gz_b"):
        assert _created_password(_new_account(enterprise_client, username=username, display_name=f"工资专员{username}",
                                              role=Role.PAYROLL_SPECIALIST, project_ids=[made["project_id"]]))
        specialist = _account(services, username)
        assert specialist.role == Role.PAYROLL_SPECIALIST and specialist.project_id == made["project_id"]
    # the demo enterprise's projects are not this enterprise's
    demo_project = _account(services, "project").project_id
    refused = _new_account(enterprise_client, username="gz_c", display_name="x", role=Role.PAYROLL_SPECIALIST,
                           project_ids=[demo_project])
    assert refused.status_code == 422 and _account(services, "gz_c") is None


def test_a_project_account_appoints_payroll_specialists_while_its_enterprise_has_no_account(client, services):
    made = _approved_project(services, NEW_CONTRACTOR)
    _english(client, services, made["username"])
    page = client.get("/accounts/").get_data(as_text=True)
    assert f'value="{Role.PAYROLL_SPECIALIST}"' in page and f'value="{made["project_id"]}"' in page
    assert _created_password(_new_account(client, username="gz_a", display_name="工资专员甲",
                                          role=Role.PAYROLL_SPECIALIST, project_ids=[made["project_id"]]))
    specialist = _account(services, "gz_a")
    assert specialist.project_id == made["project_id"] and specialist.created_by == _account(services, made["username"]).id
    # only for its own project
    demo_project = _account(services, "project").project_id
    refused = _new_account(client, username="gz_x", display_name="x", role=Role.PAYROLL_SPECIALIST,
                           project_ids=[demo_project])
    assert refused.status_code == 422 and _account(services, "gz_x") is None
    assert client.get(f"/accounts/{specialist.id}").status_code == 200

    # the enterprise gets its account: from now on the enterprise appoints and manages them
    admin = client.application.test_client()
    _english(admin, services, "admin")
    _created_password(_new_account(admin, username="zongbao", display_name="新总包", role=Role.ENTERPRISE,
                                   enterprise_name="新总包有限公司", enterprise_credit_code=NEW_CONTRACTOR))
    assert f'value="{Role.PAYROLL_SPECIALIST}"' not in client.get("/accounts/").get_data(as_text=True)
    late = _new_account(client, username="gz_b", display_name="x", role=Role.PAYROLL_SPECIALIST,
                        project_ids=[made["project_id"]])
    assert late.status_code == 422 and _account(services, "gz_b") is None
    assert client.get(f"/accounts/{specialist.id}").status_code == 404
    enterprise = client.application.test_client()
    _english(enterprise, services, "zongbao")
    assert enterprise.get(f"/accounts/{specialist.id}").status_code == 200
    assert _account(services, "gz_a").enterprise_id == _account(services, "zongbao").enterprise_id


def test_a_project_account_of_an_enterprise_with_an_account_does_not_appoint_payroll_specialists(client, services):
    _english(client, services, "project")  # the demo project: its enterprise has the demo enterprise account
    page = client.get("/accounts/").get_data(as_text=True)
    assert f'value="{Role.PAYROLL_SPECIALIST}"' not in page
    refused = _new_account(client, username="gz_a", display_name="x", role=Role.PAYROLL_SPECIALIST,
                           project_ids=[_account(services, "project").project_id])
    assert refused.status_code == 422 and _account(services, "gz_a") is None
