"""PAY-3 reminders of a waiting wage run, on the time-skipping server.

A WageRunWorkflow waits at each step; after REMIND_AFTER (3 days) without progress it reminds the
active payroll specialists of the project (inbox notifications), again after each further 3 days.
The worker runs the real WageRunActivities with a connector that must never be reached.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities.wage_run import WageRunActivities
from bank_connectors.keys import load_or_create_keys
from domain import notify
from domain.models import Account, Notification, Project, Role, WageAccount, utcnow
from domain.passwords import hash_password
from domain.wage_run import open_run
from tests.helpers.workflow_env import wait_for
from workflows.wage_run import REMIND_AFTER, WageRunWorkflow
from domain.processes.wage_run import Step, WageRunInput

MARGIN = timedelta(minutes=1)
MONTH = "2026-09"
WAGE_ACCOUNT = "6222020000087654321"


class UnreachableBank:
    """The reminder path never talks to the bank."""

    def __getattr__(self, name):
        raise AssertionError(f"the bank connector was called: {name}")


def _no_bank_keys():
    raise AssertionError("the bank keys were fetched")


def _specialist(session, username: str, project_id, district_id, active: bool = True) -> int:
    account = Account(username=username, display_name=f"工资专员{username}", password_hash=hash_password("Login2026x"),
                      role=Role.PAYROLL_SPECIALIST, project_id=project_id, district_id=district_id,
                      is_active=active, created_at=utcnow())
    session.add(account)
    session.flush()
    return account.id


def _prepare(services) -> tuple[int, str, set[int], set[int]]:
    """A run opened for the demo project; returns (run id, workflow id, expected, excluded recipients)."""
    with services.Session.begin() as session:
        project = session.scalar(select(Project).where(Project.code.like("P%")))
        other = Project(code=f"PX{uuid4().hex[:10]}", district_id=project.district_id, name="另一个项目",
                        address=project.address, builder_name=project.builder_name,
                        builder_credit_code=project.builder_credit_code, contractor_name=project.contractor_name,
                        contractor_credit_code=project.contractor_credit_code, owner_name=project.owner_name,
                        owner_credit_code=project.owner_credit_code, contract_value_fen=project.contract_value_fen,
                        planned_start=project.planned_start, planned_end=project.planned_end,
                        contact_name=project.contact_name, contact_phone_enc=project.contact_phone_enc,
                        contact_phone_hash=project.contact_phone_hash)
        session.add(other)
        session.add(WageAccount(
            project_id=project.id, bank_code="REFBANK",
            account_number_enc=services.cipher.encrypt(WAGE_ACCOUNT, "account_number"),
            account_number_hash=services.cipher.lookup_hash(WAGE_ACCOUNT, "account_number"),
            account_last4=WAGE_ACCOUNT[-4:], account_name="示范项目农民工工资专用账户", status="bound"))
        session.flush()
        expected = {_specialist(session, "payroll_a", project.id, project.district_id),
                    _specialist(session, "payroll_b", project.id, project.district_id)}
        excluded = {_specialist(session, "payroll_gone", project.id, project.district_id, active=False),
                    _specialist(session, "payroll_other", other.id, project.district_id)}
        opener = session.get(Account, min(expected))
        run = open_run(session, project.id, MONTH, opener)
        return run.id, run.workflow_id, expected, excluded


def _reminders(services) -> list[tuple[int, str]]:
    with services.Session() as session:
        rows = session.scalars(select(Notification).where(Notification.template == "wage_step_waiting")
                               .order_by(Notification.id)).all()
        assert all(row.channel == "inbox" for row in rows)
        return [(row.account_id, notify.read_body(services.cipher, row)) for row in rows]


async def _scheduled(handle) -> list[str]:
    history = await handle.fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def _skip(env, delta: timedelta) -> None:
    await env.sleep(delta)


async def test_waiting_wage_table_reminds_project_specialists_every_three_days(skipping_env, services, tmp_path):
    assert REMIND_AFTER == timedelta(days=3)
    run_id, workflow_id, expected, excluded = _prepare(services)
    activities = WageRunActivities(services, UnreachableBank(),
                                   load_or_create_keys(tmp_path / "platform_keys").signing, _no_bank_keys)
    task_queue = f"tq-{uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(skipping_env.client, task_queue=task_queue, workflows=[WageRunWorkflow],
                          activities=activities.all(), activity_executor=executor):
            handle = await skipping_env.client.start_workflow(
                WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id, task_queue=task_queue)
            try:
                assert (await handle.query(WageRunWorkflow.status)).step == Step.WAGE_TABLE

                # nothing before three days
                await _skip(skipping_env, REMIND_AFTER - MARGIN)
                assert "remind_step" not in await _scheduled(handle)
                assert _reminders(services) == []

                # three days: one reminder for each active specialist of the project
                await _skip(skipping_env, 2 * MARGIN)
                first = await wait_for(lambda: _reminders(services), "the first reminder")
                assert {account for account, _ in first} == expected
                assert len(first) == len(expected)
                assert not excluded & {account for account, _ in first}
                assert all(body == f"{workflow_id}|{Step.WAGE_TABLE}" for _, body in first)
                assert (await _scheduled(handle)).count("remind_step") == 1

                # six days: a second reminder (count 2), to the same people
                await _skip(skipping_env, REMIND_AFTER)
                second = await wait_for(lambda: len(r := _reminders(services)) == 2 * len(expected) and r,
                                        "the second reminder")
                assert {account for account, _ in second[len(expected):]} == expected
                assert not excluded & {account for account, _ in second}
                assert (await _scheduled(handle)).count("remind_step") == 2
                with services.Session() as session:
                    keys = set(session.scalars(select(Notification.dedupe_key).where(
                        Notification.template == "wage_step_waiting")))
                assert keys == {f"wage-remind-{run_id}-{Step.WAGE_TABLE}-{n}-{a}" for n in (1, 2) for a in expected}
                assert (await handle.query(WageRunWorkflow.status)).step == Step.WAGE_TABLE
            finally:
                await handle.terminate("test finished")
