"""PAY-7 timers on the time-skipping server: a blocked exit re-checks daily and reminds every 3 days.

Without any signal the process notices a paid line by its daily re-check; while wages are owed it
reminds the project's active project accounts (inbox notifications) every REMIND_EVERY.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from domain import notify
from domain import worker_exit as wx
from domain.models import Account, Notification, Role, WageLineStatus, utcnow
from domain.passwords import hash_password
from tests.helpers.workflow_env import wait_for
from tests.helpers.worker_exit import (
    engagement,
    exit_worker,
    open_month_with_line,
    prepare_site,
    project_account,
    record,
    request,
    revocations,
    set_line,
    start,
)
from domain.processes.worker_exit import ExitState, WorkerExitInput
from workflows.worker_exit import RECHECK_EVERY, REMIND_EVERY, WorkerExitWorkflow

MARGIN = timedelta(minutes=1)


def _reminders(services) -> list[tuple[int, str]]:
    with services.Session() as session:
        rows = session.scalars(select(Notification).where(Notification.template == "worker_exit_waiting")
                               .order_by(Notification.id)).all()
        assert all(row.channel == "inbox" for row in rows)
        return [(row.account_id, notify.read_body(services.cipher, row)) for row in rows]


async def _count(handle, event_type) -> int:
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.event_type == event_type)


async def test_blocked_exit_reminds_every_three_days_and_passes_on_the_daily_recheck(skipping_env, services):
    assert (RECHECK_EVERY, REMIND_EVERY) == (timedelta(days=1), timedelta(days=3))
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    with services.Session.begin() as session:
        gone = Account(username="project_gone", display_name="已停用", password_hash=hash_password("Login2026x"),
                       role=Role.PROJECT, project_id=project_id, is_active=False, created_at=utcnow())
        session.add(gone)
        session.flush()
        gone_id = gone.id
    line_id = open_month_with_line(services, project_id, pw_id)
    workflow_id = request(services, project_id, pw_id, actor)
    async with exit_worker(skipping_env, services) as w:
        handle = await start(w, workflow_id, pw_id, actor)
        try:
            view = await wait_for(lambda: handle.query(WorkerExitWorkflow.status), "the first check")
            await wait_for(lambda: _waiting(handle), "waiting")

            await skipping_env.sleep(REMIND_EVERY - MARGIN)
            assert _reminders(services) == []
            assert (await handle.query(WorkerExitWorkflow.status)).checks >= 3  # day 0, 1, 2

            await skipping_env.sleep(2 * MARGIN)
            first = await wait_for(lambda: _reminders(services), "the first reminder")
            assert first == [(actor, f"{workflow_id}|1")]
            assert gone_id not in {a for a, _ in first}

            await skipping_env.sleep(REMIND_EVERY)
            second = await wait_for(lambda: len(r := _reminders(services)) == 2 and r, "the second reminder")
            assert second[1] == (actor, f"{workflow_id}|2")
            view = await handle.query(WorkerExitWorkflow.status)
            assert view.state == ExitState.WAITING and view.reminders == 2 and view.unpaid_lines == 1
            assert await _count(handle, EventType.EVENT_TYPE_TIMER_FIRED) >= 6

            # paid without anyone signalling: the next daily re-check finishes the exit
            set_line(services, line_id, WageLineStatus.PAID)
            await skipping_env.sleep(RECHECK_EVERY + MARGIN)
            result = await handle.result()
            assert result.state == ExitState.EXITED
            assert engagement(services, pw_id).status == wx.EXITED
            assert len(revocations(services, pw_id)) == 1
            assert len(_reminders(services)) == 2
            await record(handle, services, "reminded_then_paid")
        finally:
            if (await handle.describe()).status.name == "RUNNING":
                await handle.terminate("test finished")


async def _waiting(handle) -> bool:
    return (await handle.query(WorkerExitWorkflow.status)).state == ExitState.WAITING


async def test_a_long_wait_continues_as_new_and_keeps_its_reminder_count(skipping_env, services):
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    line_id = open_month_with_line(services, project_id, pw_id)
    workflow_id = request(services, project_id, pw_id, actor)
    async with exit_worker(skipping_env, services) as w:
        handle = await w.client.start_workflow(
            WorkerExitWorkflow.run, WorkerExitInput(pw_id, actor, checks_per_run=2), id=workflow_id,
            task_queue=w.task_queue)
        first_run = (await handle.describe()).run_id
        try:
            await wait_for(lambda: _waiting(handle), "waiting")
            await skipping_env.sleep(REMIND_EVERY + MARGIN)  # day 3: a reminder, and past 2 checks a run
            await wait_for(lambda: _reminders(services), "the first reminder")
            described = await w.client.get_workflow_handle(workflow_id).describe()
            assert described.run_id != first_run  # continued as new
            view = await wait_for(lambda: _view_when(handle, lambda v: v.reminders >= 1), "the new run's status")
            assert view.state == ExitState.WAITING and view.unpaid_lines == 1

            set_line(services, line_id, WageLineStatus.PAID)
            await skipping_env.sleep(RECHECK_EVERY + MARGIN)
            assert (await handle.result()).state == ExitState.EXITED
            assert len(revocations(services, pw_id)) == 1
            assert [body for _a, body in _reminders(services)] == [f"{workflow_id}|1"]
            await record(w.client.get_workflow_handle(workflow_id, run_id=first_run), services, "continued_as_new")
        finally:
            if (await w.client.get_workflow_handle(workflow_id).describe()).status.name == "RUNNING":
                await w.client.get_workflow_handle(workflow_id).terminate("test finished")


async def _view_when(handle, predicate):
    view = await handle.query(WorkerExitWorkflow.status)
    return view if predicate(view) else None
