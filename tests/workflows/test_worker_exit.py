"""PAY-7 worker exit on the real dev server: blocked while wages are owed, exited once paid.

The worker runs the real WorkerExitActivities on the test's SQLite database. A worker of the demo
workforce punched in 2026-10: the exit first waits for that month's run, then for the worker's
line in it; once the line is paid (or settled) a `recheck` signal lets the exit through, with one
site-access revocation. Payloads go through the platform's codec (encrypted with the test stacks'
key); SHIMING_RECORD_HISTORIES=1 refreshes the committed histories.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError

from domain import worker_exit as wx
from domain.models import Account, AuditLog, ProjectWorker, Role, WageLine, WageLineStatus, WageRun, utcnow
from domain.passwords import hash_password
from domain.processes.worker_exit import CancelExitRequest, ExitState, RecheckInput
from workflows.worker_exit import WorkerExitWorkflow
from tests.helpers.worker_exit import (
    MONTH, audit_actions, engagement, exit_worker, open_month_with_line, prepare_site, project_account, record, request,
    revocations, set_line, start, status_when,
)


async def test_exit_waits_for_the_month_run_and_the_unpaid_line_then_revokes_access(dev_env, services):
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    workflow_id = request(services, project_id, pw_id, actor)
    assert workflow_id == f"worker-exit-{pw_id}"
    async with exit_worker(dev_env, services) as w:
        handle = await start(w, workflow_id, pw_id, actor)

        # attendance in MONTH and no run for it yet: the wages are not paid
        view = await status_when(handle, lambda v: v.state == ExitState.WAITING, "waiting on the month")
        assert view.months_without_run == [MONTH] and view.unpaid_lines == 0
        assert engagement(services, pw_id).status == wx.EXITING

        # the run opens with the worker's line failed: still owed
        line_id = open_month_with_line(services, project_id, pw_id)
        await handle.signal(WorkerExitWorkflow.recheck, RecheckInput("run opened"))
        view = await status_when(handle, lambda v: v.checks >= 2, "the second check")
        assert view.state == ExitState.WAITING
        assert (view.unpaid_lines, view.unpaid_fen, view.months_without_run) == (1, 650_000, [])
        assert revocations(services, pw_id) == []

        # paid: the next check lets the exit through
        set_line(services, line_id, WageLineStatus.PAID)
        await handle.signal(WorkerExitWorkflow.recheck, RecheckInput())
        result = await handle.result()
        assert result.state == ExitState.EXITED
        pw = engagement(services, pw_id)
        assert pw.status == wx.EXITED and pw.exit_date is not None
        assert result.exit_date == pw.exit_date.isoformat()
        [revocation] = revocations(services, pw_id)
        assert (revocation.id, revocation.project_id, revocation.worker_id, revocation.workflow_id) == \
               (result.revocation_id, project_id, pw.worker_id, workflow_id)
        assert revocation.consumed_at is None and revocation.reason == "worker_exit"
        assert audit_actions(services, pw_id) == ["worker.exit_request", "worker.exit"]
        with services.Session() as session:
            assert session.scalar(select(func.count()).select_from(AuditLog).where(
                AuditLog.action == "site_access.revoke", AuditLog.target_id == str(revocation.id))) == 1

        # no second exit of the same engagement
        with pytest.raises(wx.WorkerExitError) as refused:
            request(services, project_id, pw_id, actor)
        assert refused.value.code == "already_exited"
        await record(handle, services, "blocked_then_paid")


async def test_a_settled_line_counts_as_done(dev_env, services):
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    line_id = open_month_with_line(services, project_id, pw_id)
    async with exit_worker(dev_env, services) as w:
        handle = await start(w, request(services, project_id, pw_id, actor), pw_id, actor)
        await status_when(handle, lambda v: v.state == ExitState.WAITING and v.unpaid_lines == 1, "the unpaid line")
        set_line(services, line_id, WageLineStatus.SETTLED, "现金发放，工人签字确认")
        await handle.signal(WorkerExitWorkflow.recheck, RecheckInput())
        assert (await handle.result()).state == ExitState.EXITED
    assert len(revocations(services, pw_id)) == 1


async def test_the_requester_withdraws_the_exit_with_a_reason(dev_env, services):
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    with services.Session.begin() as session:
        other = Account(username="project2", display_name="另一劳资专管员", password_hash=hash_password("Login2026x"),
                        role=Role.PROJECT, project_id=project_id, created_at=utcnow())
        session.add(other)
        session.flush()
        other_id = other.id
    async with exit_worker(dev_env, services) as w:
        handle = await start(w, request(services, project_id, pw_id, actor), pw_id, actor)
        await status_when(handle, lambda v: v.state == ExitState.WAITING, "waiting")

        for inp, code in ((CancelExitRequest(other_id, "不退场了"), "NotRequester"),
                          (CancelExitRequest(actor, "  "), "ReasonRequired")):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(WorkerExitWorkflow.cancel_exit, inp)
            assert refused.value.cause.type == code
        assert engagement(services, pw_id).status == wx.EXITING

        assert await handle.execute_update(WorkerExitWorkflow.cancel_exit,
                                           CancelExitRequest(actor, "工人续签合同")) == ExitState.CANCELLED
        assert (await handle.result()).state == ExitState.CANCELLED
        pw = engagement(services, pw_id)
        assert (pw.status, pw.exit_date, pw.exit_requested_at, pw.exit_requested_by) == (wx.ACTIVE, None, None, None)
        assert revocations(services, pw_id) == []
        assert audit_actions(services, pw_id) == ["worker.exit_request", "worker.exit_cancel"]
        with services.Session() as session:
            assert session.scalar(select(AuditLog.reason).where(AuditLog.action == "worker.exit_cancel")) == "工人续签合同"
        await record(handle, services, "cancelled")

        # a new request after the withdrawal starts a new process under the same business key
        workflow_id = request(services, project_id, pw_id, actor, "工程完工")
        again = await start(w, workflow_id, pw_id, actor)
        await status_when(again, lambda v: v.state == ExitState.WAITING, "the second request waiting")
        await again.terminate("test finished")


async def test_an_administrator_cancelling_the_process_puts_the_worker_back(dev_env, services):
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    async with exit_worker(dev_env, services) as w:
        handle = await start(w, request(services, project_id, pw_id, actor), pw_id, actor)
        await status_when(handle, lambda v: v.state == ExitState.WAITING, "waiting")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        pw = engagement(services, pw_id)
        assert (pw.status, pw.exit_date) == (wx.ACTIVE, None)
        assert revocations(services, pw_id) == []
        with services.Session() as session:
            row = session.scalar(select(AuditLog).where(AuditLog.action == "worker.exit_cancel"))
            assert (row.actor_id, row.actor_name, row.reason) == (None, "system", "process cancelled")
        await record(handle, services, "admin_cancelled")


def test_request_is_scoped_to_the_project_and_refused_twice(services):
    project_id, (pw_id, *_rest) = prepare_site(services)
    actor = project_account(services)
    for project, code in ((project_id + 1000, "not_found"), (None, "not_found")):
        with pytest.raises(wx.WorkerExitError) as refused:
            request(services, project, pw_id, actor)
        assert refused.value.code == code
    with pytest.raises(wx.WorkerExitError) as refused:
        request(services, project_id, pw_id, actor, reason=" ")
    assert refused.value.code == "reason_required"
    assert engagement(services, pw_id).status == wx.ACTIVE
    request(services, project_id, pw_id, actor)
    with pytest.raises(wx.WorkerExitError) as refused:
        request(services, project_id, pw_id, actor)
    assert refused.value.code == "already_requested"
    pw = engagement(services, pw_id)
    assert pw.exit_requested_by == actor and pw.exit_requested_at is not None
    assert audit_actions(services, pw_id) == ["worker.exit_request"]


def test_outstanding_counts_open_runs_only_and_months_without_a_run(services):
    project_id, (pw_id, other_pw, *_rest) = prepare_site(services)
    with services.Session() as session:
        found = wx.outstanding(session, session.get(ProjectWorker, pw_id))
    assert found.months_without_run == [MONTH] and found.lines == [] and not found.clear
    line_id = open_month_with_line(services, project_id, pw_id, status=WageLineStatus.PENDING)
    with services.Session() as session:
        found = wx.outstanding(session, session.get(ProjectWorker, pw_id))
        assert [line.line_id for line in found.lines] == [line_id] and found.months_without_run == []
        # the other worker punched in MONTH too, but has no line: the run took the month up
        assert wx.outstanding(session, session.get(ProjectWorker, other_pw)).clear
    with services.Session.begin() as session:  # a cancelled run neither owes nor takes the month up
        session.get(WageRun, session.get(WageLine, line_id).run_id).status = "cancelled"
    with services.Session() as session:
        found = wx.outstanding(session, session.get(ProjectWorker, pw_id))
    assert found.lines == [] and found.months_without_run == [MONTH]
