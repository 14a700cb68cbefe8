"""PAY-2 pages of the payroll specialist: the wage special accounts, adding one (security password
first), the agreement and its signed acceptance, refusals that say why, and scope (another
project's account is a 404). The process itself is covered by tests/workflows/test_account_binding.py.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from domain import registration as reg
from domain import signing
from domain import wage_account as wa
from domain.processes import account_binding as ab
from domain.models import Account, AuditLog, Project, RegistrationApplication, SecurityPasswordState, WageAccount
from tests.helpers.web_app import create_registration, enter_session
from tests.helpers.wage_scenario import create_payroll_specialist
from tests.helpers.fakes import FakeExecution
from domain.processes.account_binding import BindingInput, BindingStatus, BindingStatusView
from workflows.account_binding import WageAccountBindingWorkflow

NUMBER = "6222020200012345678"
NAME = "中建某局某项目部农民工工资专户"
PASSWORD = "Anquan2026a"


@pytest.fixture
def specialist(services) -> dict:
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))
    account_id = create_payroll_specialist(services, "payroll_a", project_id, security_password=PASSWORD)
    return {"project_id": project_id, "id": account_id}


def _english(client, services, username: str = "payroll_a"):
    enter_session(client, services, username)
    client.get("/lang/en")
    return client


def _add(client, **overrides):
    data = {"login_password": "Login2026x", "security_password": PASSWORD, "bank_code": "REFBANK", "account_number": NUMBER, "account_name": NAME}
    data.update(overrides)
    return client.post("/payroll/accounts/add", data=data)


def _rows(services) -> list[WageAccount]:
    with services.Session() as db:
        return list(db.scalars(select(WageAccount).order_by(WageAccount.id)))


def _failed_count(services, account_id: int) -> int:
    with services.Session() as db:
        state = db.get(SecurityPasswordState, account_id)
        return state.failed_count if state else 0


def _binding(services, project_id: int, actor_id: int, number: str = NUMBER, name: str = NAME) -> dict:
    with services.Session.begin() as db:
        row = wa.start_binding(db, services.cipher, project_id=project_id, actor=db.get(Account, actor_id),
                               bank_code="REFBANK", account_number=number, account_name=name)
        return {"id": row.id, "workflow_id": row.workflow_id}


def _awaiting(bridge, binding: dict, status: str = BindingStatus.AWAITING_AGREEMENT) -> None:
    bridge.client.executions[binding["workflow_id"]] = FakeExecution(
        binding["workflow_id"], workflow_type="WageAccountBindingWorkflow",
        view=BindingStatusView(status, binding["id"]))


# --- list and add -------------------------------------------------------------------------------------

def test_home_links_to_the_accounts_and_an_empty_list_offers_the_form(client, services, specialist):
    _english(client, services)
    assert 'id="wage-accounts-link"' in client.get("/payroll/").get_data(as_text=True)
    page = client.get("/payroll/accounts").get_data(as_text=True)
    assert 'id="accounts-empty"' in page and 'id="add-account-form"' in page


def test_adding_an_account_checks_the_password_stores_it_encrypted_and_starts_the_process(
        client, services, specialist, bridge):
    _english(client, services)
    response = _add(client, account_number="6222 0202 0001 2345 678")
    assert response.status_code == 302
    [row] = _rows(services)
    assert response.headers["Location"].endswith(f"/payroll/accounts/{row.id}")
    assert (row.status, row.project_id, row.account_last4, row.account_name) == (
        wa.BINDING, specialist["project_id"], "5678", NAME)
    assert NUMBER not in row.account_number_enc and wa.account_number_of(services.cipher, row) == NUMBER
    assert row.workflow_id == wa.workflow_id_for(specialist["project_id"], row.id)
    [started] = bridge.client.started
    assert started["workflow"] == WageAccountBindingWorkflow.run and started["arg"] == BindingInput(row.id)
    assert started["id"] == row.workflow_id and started["task_queue"] == bridge.task_queue
    with services.Session() as db:
        start = db.scalar(select(AuditLog).where(AuditLog.action == "wage_account.start"))
    assert start.actor_id == specialist["id"] and start.business_key == row.workflow_id
    assert NUMBER not in (start.detail or "") and "5678" in start.detail

    page = client.get("/payroll/accounts").get_data(as_text=True)
    assert "**** 5678" in page and NUMBER not in page and "12345678" not in page
    assert 'data-status="binding"' in page and 'id="add-account-form"' not in page


def test_a_wrong_security_password_writes_nothing_and_counts_toward_the_lockout(client, services, specialist, bridge):
    _english(client, services)
    response = _add(client, security_password="wrong-password-1")
    assert response.status_code == 422
    assert "Wrong security password" in response.get_data(as_text=True)
    assert _rows(services) == [] and bridge.calls == 0
    assert _failed_count(services, specialist["id"]) == 1


def test_a_wrong_login_password_writes_nothing_and_is_audited(client, services, specialist, bridge):
    """ACC-5: re-authentication before a wage account changes."""
    from domain.models import AuditLog

    _english(client, services)
    response = _add(client, login_password="Wrong2026x")
    assert response.status_code == 422 and "login password is wrong" in response.get_data(as_text=True)
    assert _rows(services) == [] and bridge.calls == 0
    assert _failed_count(services, specialist["id"]) == 0  # the security password was not even tried
    with services.Session() as db:
        actions = db.scalars(select(AuditLog.action).where(AuditLog.actor_id == specialist["id"])).all()
    assert any(a.startswith("auth.reauth") for a in actions), actions


@pytest.mark.parametrize("field, value, message", [
    ("account_number", "12ab!", "Not a valid account number"),
    ("account_number", "", "This field is required."),
    ("account_name", "", "This field is required."),
    ("bank_code", "OTHERBANK", "Not a valid choice"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(client, services, specialist, bridge,
                                                                      field, value, message):
    _english(client, services)
    response = _add(client, **{field: value})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _rows(services) == [] and bridge.calls == 0


def test_a_second_account_while_one_is_being_bound_is_refused(client, services, specialist, bridge):
    _english(client, services)
    assert _add(client).status_code == 302
    response = _add(client, account_number="6222020200087654321", account_name="另一个账户")
    assert response.status_code == 422
    assert "already has a wage account that is bound or being bound" in response.get_data(as_text=True)
    assert len(_rows(services)) == 1 and len(bridge.client.started) == 1


def test_a_refused_account_shows_why_and_another_may_be_added(client, services, specialist):
    binding = _binding(services, specialist["project_id"], specialist["id"], name="某某项目部工资专户")
    with services.Session.begin() as db:
        wa.refuse(db, db.get(WageAccount, binding["id"]), "NAME_MISMATCH", "the account name does not match")
    _english(client, services)
    page = client.get("/payroll/accounts").get_data(as_text=True)
    assert 'data-status="refused"' in page and "does not match the bank&#39;s records" in page
    assert 'id="add-account-form"' in page
    detail = client.get(f"/payroll/accounts/{binding['id']}").get_data(as_text=True)
    assert 'id="refusal-reason"' in detail and 'id="accept-form"' not in detail


def test_the_page_is_in_chinese_by_default(client, services, specialist):
    enter_session(client, services, "payroll_a")
    page = client.get("/payroll/accounts").get_data(as_text=True)
    assert "Wage special account" not in page and "Account number" not in page


# --- the agreement ------------------------------------------------------------------------------------

def test_the_agreement_is_offered_once_the_bank_confirmed_and_accepting_sends_a_signed_update(
        client, services, specialist, bridge):
    binding = _binding(services, specialist["project_id"], specialist["id"])
    _english(client, services)
    _awaiting(bridge, binding, BindingStatus.VALIDATING)
    page = client.get(f"/payroll/accounts/{binding['id']}").get_data(as_text=True)
    assert "The bank is checking the account." in page and 'id="accept-form"' not in page

    _awaiting(bridge, binding)
    page = client.get(f"/payroll/accounts/{binding['id']}").get_data(as_text=True)
    assert 'id="accept-form"' in page and f"Version {wa.AGREEMENT_VERSION}" in page and NUMBER not in page

    response = client.post(f"/payroll/accounts/{binding['id']}/accept", data={"security_password": PASSWORD})
    assert response.status_code == 302
    [(workflow_id, update, inp)] = bridge.updates
    assert workflow_id == binding["workflow_id"] and update == WageAccountBindingWorkflow.accept_agreement
    assert (inp.wage_account_id, inp.actor_id) == (binding["id"], specialist["id"])
    fields = ab.parse_agreement_document(inp.document)
    assert (fields.wage_account_id, fields.actor_id) == (binding["id"], specialist["id"])
    with services.Session() as db:
        assert signing.verify(db, inp.signing_key_id, inp.document, inp.signature)
    assert NUMBER not in json.dumps(inp.__dict__)
    assert "the wage account is bound" in client.get(f"/payroll/accounts/{binding['id']}").get_data(as_text=True)


def test_accepting_with_a_wrong_password_sends_nothing(client, services, specialist, bridge):
    binding = _binding(services, specialist["project_id"], specialist["id"])
    _awaiting(bridge, binding)
    _english(client, services)
    client.post(f"/payroll/accounts/{binding['id']}/accept", data={"security_password": "wrong-password-1"})
    assert "Wrong security password" in client.get(f"/payroll/accounts/{binding['id']}").get_data(as_text=True)
    assert bridge.updates == [] and _failed_count(services, specialist["id"]) == 1


def test_an_unreachable_process_can_be_started_again(client, services, specialist, bridge):
    binding = _binding(services, specialist["project_id"], specialist["id"])
    _english(client, services)
    page = client.get(f"/payroll/accounts/{binding['id']}").get_data(as_text=True)
    assert 'id="process-unreachable"' in page and 'id="restart-form"' in page
    assert client.post(f"/payroll/accounts/{binding['id']}/start").status_code == 302
    [started] = bridge.client.started
    assert started["id"] == binding["workflow_id"] and started["arg"] == BindingInput(binding["id"])


# --- scope -------------------------------------------------------------------------------------------

def test_another_projects_account_is_not_found(client, services, specialist, bridge):
    case = create_registration(services)
    with services.Session.begin() as db:
        project, _account, _pw = reg.approve(db, services.cipher, db.get(RegistrationApplication, case["id"]))
        db.flush()
        other_project = project.id
    other_specialist = create_payroll_specialist(services, "payroll_other", other_project)
    binding = _binding(services, other_project, other_specialist)
    _awaiting(bridge, binding)
    _english(client, services)
    assert client.get(f"/payroll/accounts/{binding['id']}").status_code == 404
    assert client.post(f"/payroll/accounts/{binding['id']}/accept",
                       data={"security_password": PASSWORD}).status_code == 404
    assert client.post(f"/payroll/accounts/{binding['id']}/start").status_code == 404
    assert client.get("/payroll/accounts/999999").status_code == 404
    assert f'data-account-id="{binding["id"]}"' not in client.get("/payroll/accounts").get_data(as_text=True)
    assert bridge.updates == [] and bridge.client.started == []
    assert _failed_count(services, specialist["id"]) == 0
    # the other project's binding does not block this project's own
    assert _add(client).status_code == 302
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(WageAccount)
                         .where(WageAccount.project_id == specialist["project_id"])) == 1
