"""PAY-2 wage special account binding: WageAccountBindingWorkflow with the real worker, the real
activities and the reference bank as a real `shiming bank` process.

On the dev server: the bank validates (refusals say why and end the case), the `accept_agreement`
update and its validator, the signed acceptance checked in the activity, the bound account used by
the next wage run. On the time-skipping server: the binding expires after seven days.
`SHIMING_RECORD_HISTORIES=1` refreshes the committed history replayed by test_account_binding_replay.py.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from domain.processes.account_binding import AcceptAgreementInput
from domain import signing
from domain import wage_account as wa
from domain.processes import account_binding as ab
from domain.models import Account, AuditLog, Project, RegistrationApplication, WageAccount
from domain.wage_run import open_run
from tests.helpers.bank_process import BankProcess, write_ledger
from tests.helpers.wage_files import PAYER_ACCOUNT, PAYER_NAME
from tests.helpers.services import make_services
from tests.helpers.workflow_env import db_snapshot, registration_harness, wait_for
from tests.helpers.web_app import create_registration
from tests.helpers.wage_scenario import create_payroll_specialist
from domain.processes.account_binding import BindingInput, BindingStatus
from workflows.account_binding import EXPIRE_AFTER, WageAccountBindingWorkflow

HISTORIES = Path(__file__).parent / "histories"
ORDINARY_ACCOUNT = "6222020200087654321"
CLOSED_ACCOUNT = "6222020200011110000"
SECURITY_PASSWORD = "Anquan2026a"


@pytest.fixture(scope="module")
def refbank(tmp_path_factory):
    """The reference bank with the test ledger (one open wage account, an ordinary and a closed one)."""
    base = tmp_path_factory.mktemp("binding-bank")
    process = BankProcess(base / "home", "--ledger", str(write_ledger(base / "ledger.json")),
                          "--exchange-dir", str(base / "exchange"))
    process.exchange_dir = base / "exchange"
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def services(tmp_path, refbank):
    """The test database, with the worker's HTTP bank connector pointing at the reference bank."""
    svc = make_services(tmp_path, bank_url=refbank.url)
    yield svc
    svc.engine.dispose()


def demo_project(services) -> int:
    with services.Session() as session:
        return session.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))


def add_binding(services, project_id: int, actor_id: int, number: str = PAYER_ACCOUNT,
                name: str = PAYER_NAME) -> tuple[int, str]:
    """What the web layer does after the security password: the `binding` row (account id, workflow id)."""
    with services.Session.begin() as session:
        row = wa.start_binding(session, services.cipher, project_id=project_id, actor=session.get(Account, actor_id),
                               bank_code="REFBANK", account_number=number, account_name=name)
        return row.id, row.workflow_id


async def start(harness, services, project_id: int, actor_id: int, number: str = PAYER_ACCOUNT,
                name: str = PAYER_NAME) -> tuple[int, WorkflowHandle]:
    account_id, workflow_id = add_binding(services, project_id, actor_id, number, name)
    handle = await harness.env.client.start_workflow(
        WageAccountBindingWorkflow.run, BindingInput(account_id), id=workflow_id, task_queue=harness.task_queue)
    return account_id, handle


def signed_acceptance(services, account_id: int, actor_id: int, password: str = SECURITY_PASSWORD,
                      at: datetime | None = None) -> AcceptAgreementInput:
    key = signing.unlock(services.Session, actor_id, password)
    document = ab.agreement_document(wage_account_id=account_id, actor_id=actor_id,
                                     accepted_at=at or datetime.now(timezone.utc))
    return AcceptAgreementInput(account_id, actor_id, document, signing.sign(key, document), key.key_id)


async def awaiting_agreement(handle: WorkflowHandle) -> None:
    async def probe():
        return (await handle.query(WageAccountBindingWorkflow.status)).status == BindingStatus.AWAITING_AGREEMENT
    await wait_for(probe, "the bank's check and the wait for the agreement", timeout=30)


def row(services, account_id: int) -> WageAccount:
    with services.Session() as session:
        return session.get(WageAccount, account_id)


def audit_actions(services, workflow_id: str) -> list[str]:
    with services.Session() as session:
        return list(session.scalars(select(AuditLog.action).where(AuditLog.business_key == workflow_id)
                                    .order_by(AuditLog.id)))


async def refused(handle: WorkflowHandle, services, inp: AcceptAgreementInput, code: str) -> None:
    """The update is refused with `code` and changes nothing (database and process state)."""
    before, view = db_snapshot(services), await handle.query(WageAccountBindingWorkflow.status)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(WageAccountBindingWorkflow.accept_agreement, inp)
    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == code
    assert db_snapshot(services) == before
    assert await handle.query(WageAccountBindingWorkflow.status) == view


def other_project_specialist(services) -> int:
    case = create_registration(services)
    from domain import registration as reg
    with services.Session.begin() as session:
        project, _account, _pw = reg.approve(session, services.cipher, session.get(RegistrationApplication, case["id"]))
        session.flush()
        other = project.id
    return create_payroll_specialist(services, "payroll_other", other, security_password="Anquan2026c")


def record(history_json: str, case: str) -> None:
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / f"account_binding_{case}.json").write_text(history_json)


# --- dev server ------------------------------------------------------------------------------------

async def test_valid_account_is_checked_by_the_bank_and_bound_by_the_signed_agreement(dev, services):
    project_id = demo_project(services)
    a = create_payroll_specialist(services, "payroll_a", project_id, security_password=SECURITY_PASSWORD)
    b = create_payroll_specialist(services, "payroll_b", project_id, security_password="Anquan2026b")
    outsider = other_project_specialist(services)
    account_id, handle = await start(dev, services, project_id, a)
    await awaiting_agreement(handle)
    assert row(services, account_id).status == wa.BINDING

    # validators: another account's acceptance, an unsigned one
    await refused(handle, services, signed_acceptance(services, account_id + 1000, a), "WrongAccount")
    unsigned = signed_acceptance(services, account_id, a)
    unsigned.signature = ""
    await refused(handle, services, unsigned, "SignatureRefused")
    # the activity: a specialist of another project, a signature by someone else's key, an altered document
    await refused(handle, services, signed_acceptance(services, account_id, outsider, "Anquan2026c"),
                  "NotProjectSpecialist")
    borrowed = signed_acceptance(services, account_id, b, "Anquan2026b")
    borrowed.actor_id = a
    await refused(handle, services, borrowed, "SignatureRefused")
    altered = signed_acceptance(services, account_id, a)
    altered.document = altered.document.replace('"actor_id":', '"actor_id": ')
    await refused(handle, services, altered, "SignatureRefused")

    inp = signed_acceptance(services, account_id, a)
    assert await handle.execute_update(WageAccountBindingWorkflow.accept_agreement, inp) == BindingStatus.BOUND
    assert (await handle.result()).status == BindingStatus.BOUND
    bound = row(services, account_id)
    assert (bound.status, bound.bound_by, bound.refusal_reason) == (wa.BOUND, a, None)
    assert bound.agreement_accepted_at == ab.parse_agreement_document(inp.document).accepted_at
    assert audit_actions(services, handle.id) == ["wage_account.start", "wage_account.bound"]
    with services.Session() as session:
        detail = json.loads(session.scalar(select(AuditLog.detail).where(
            AuditLog.business_key == handle.id, AuditLog.action == "wage_account.bound")))
        assert detail["signature"] == inp.signature and detail["agreement_version"] == wa.AGREEMENT_VERSION

    # the process carried ids only: the account number never entered the history
    history = await handle.fetch_history()
    recorded = history.to_json()
    assert PAYER_ACCOUNT not in recorded and PAYER_ACCOUNT[-8:] not in recorded
    record(recorded, "bound")

    # the next wage run uses the account bound through the process
    with services.Session.begin() as session:
        run = open_run(session, project_id, "2026-10", session.get(Account, a))
        assert run.wage_account_id == account_id


@pytest.mark.parametrize("number, name, code", [
    (PAYER_ACCOUNT, "某某项目部工资专户", "NAME_MISMATCH"),
    ("6222020299999999999", PAYER_NAME, "NOT_FOUND"),
    (ORDINARY_ACCOUNT, "某劳务公司", "NOT_WAGE_ACCOUNT"),
    (CLOSED_ACCOUNT, "已销户项目部工资专户", "CLOSED"),
])
async def test_the_bank_refuses_and_the_refusal_says_why(dev, services, number, name, code):
    project_id = demo_project(services)
    a = create_payroll_specialist(services, "payroll_a", project_id, security_password=SECURITY_PASSWORD)
    account_id, handle = await start(dev, services, project_id, a, number, name)
    result = await handle.result()
    assert (result.status, result.code) == (BindingStatus.REFUSED, code)
    refused_row = row(services, account_id)
    assert refused_row.status == wa.REFUSED and refused_row.refusal_reason.startswith(code + ": ")
    assert refused_row.bound_by is None and refused_row.agreement_accepted_at is None
    assert audit_actions(services, handle.id) == ["wage_account.start", "wage_account.refused"]
    if code == "NAME_MISMATCH":
        record((await handle.fetch_history()).to_json(), "refused")
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update(WageAccountBindingWorkflow.accept_agreement,
                                    signed_acceptance(services, account_id, a))
    assert row(services, account_id).status == wa.REFUSED
    # the wage run still refuses to open, and another account may now be added
    with services.Session.begin() as session:
        with pytest.raises(Exception, match="no_wage_account"):
            open_run(session, project_id, "2026-10", session.get(Account, a))
    assert add_binding(services, project_id, a)[0] != account_id


async def test_the_exchange_folder_connector_validates_too(dev_env, refbank, tmp_path):
    """A worker configured with SHIMING_BANK_EXCHANGE_DIR asks the bank through the folder."""
    exchange_services = make_services(tmp_path / "exchange-platform", bank_exchange_dir=str(refbank.exchange_dir),
                                      bank_keys_file=str(refbank.keys_file))
    try:
        async with registration_harness(dev_env, exchange_services) as harness:
            project_id = demo_project(exchange_services)
            a = create_payroll_specialist(exchange_services, "payroll_a", project_id,
                                          security_password=SECURITY_PASSWORD)
            account_id, handle = await start(harness, exchange_services, project_id, a, name="错误的名称")
            assert (await handle.result()).code == "NAME_MISMATCH"
            account_id, handle = await start(harness, exchange_services, project_id, a)
            await awaiting_agreement(handle)
            await handle.execute_update(WageAccountBindingWorkflow.accept_agreement,
                                        signed_acceptance(exchange_services, account_id, a))
            assert (await handle.result()).status == BindingStatus.BOUND
            assert row(exchange_services, account_id).status == wa.BOUND
    finally:
        exchange_services.engine.dispose()


# --- time-skipping server ------------------------------------------------------------------------

async def test_an_agreement_not_accepted_in_seven_days_expires(skipping, services):
    assert EXPIRE_AFTER == timedelta(days=7)
    project_id = demo_project(services)
    a = create_payroll_specialist(services, "payroll_a", project_id, security_password=SECURITY_PASSWORD)
    account_id, handle = await start(skipping, services, project_id, a)
    await awaiting_agreement(handle)

    await skipping.env.sleep(EXPIRE_AFTER - timedelta(minutes=1))
    assert (await handle.query(WageAccountBindingWorkflow.status)).status == BindingStatus.AWAITING_AGREEMENT
    assert row(services, account_id).status == wa.BINDING

    await skipping.env.sleep(timedelta(minutes=2))
    assert (await handle.result()).status == BindingStatus.EXPIRED
    expired = row(services, account_id)
    assert (expired.status, expired.refusal_reason, expired.bound_by) == (wa.UNBOUND, wa.EXPIRED, None)
    assert audit_actions(services, handle.id) == ["wage_account.start", "wage_account.expired"]
    record((await handle.fetch_history()).to_json(), "expired")
    # the project may bind again
    assert add_binding(services, project_id, a)[0] != account_id
