"""PAY-7 worker exit on the real dev server: blocked while wages are owed, exited once paid.

The worker runs the real WorkerExitActivities on the test's SQLite database. A worker of the demo
workforce punched in 2026-10: the exit first waits for that month's run, then for the worker's
line in it; once the line is paid (or settled) a `recheck` signal lets the exit through, with one
site-access revocation. Payloads go through the platform's codec (encrypted with the test stacks'
key); SHIMING_RECORD_HISTORIES=1 refreshes the committed histories.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.worker import Replayer, Worker

from activities.worker_exit import WorkerExitActivities
from domain import worker_exit as wx
from domain.models import (
    Account,
    AuditLog,
    Project,
    ProjectWorker,
    Role,
    SiteAccessRevocation,
    WageAccount,
    WageLine,
    WageLineStatus,
    WageRun,
    utcnow,
)
from domain.passwords import hash_password
from domain.wage_run import open_run
from shiming.seed_workforce import seed_workforce
from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.workflow_env import wait_for
from domain.processes.worker_exit import CancelExitRequest, ExitState, RecheckInput, WorkerExitInput
from workflows.worker_exit import WorkerExitWorkflow

MONTH = "2026-10"
HISTORIES = Path(__file__).parent / "histories"


# ---- helpers shared with the timer and replay tests ------------------------------------------------


def prepare_site(services, workers: int = 3) -> tuple[int, list[int]]:
    """The demo project with a small workforce (punches in MONTH); returns (project id, engagement ids)."""
    with services.Session() as session:
        project_id = session.scalar(select(Project.id).order_by(Project.id).limit(1))
    seed_workforce(services, project_id, workers=workers, month=MONTH)
    with services.Session() as session:
        ids = list(session.scalars(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id)
                                   .order_by(ProjectWorker.id)))
    return project_id, ids


def project_account(services, username: str = "project") -> int:
    with services.Session() as session:
        return session.scalar(select(Account.id).where(Account.username == username))


def request(services, project_id: int, pw_id: int, actor_id: int, reason: str = "合同期满") -> str:
    with services.Session.begin() as session:
        pw = wx.request_exit(session, project_id, pw_id, session.get(Account, actor_id), reason)
        return pw.exit_workflow_id


def open_month_with_line(services, project_id: int, pw_id: int, status: str = WageLineStatus.FAILED) -> int:
    """A bound wage account, MONTH's run, and one line of the worker; returns the line id."""
    with services.Session.begin() as session:
        session.add(WageAccount(project_id=project_id, bank_code="REFBANK", account_number_enc="x",
                                account_number_hash="x", account_last4="0000", account_name="工资专户", status="bound"))
        session.flush()
        run = open_run(session, project_id, MONTH, session.get(Account, project_account(services)))
        worker_id = session.get(ProjectWorker, pw_id).worker_id
        line = WageLine(run_id=run.id, seq=1, worker_id=worker_id, gross_fen=700_000, net_fen=650_000, status=status)
        session.add(line)
        session.flush()
        return line.id


def set_line(services, line_id: int, status: str, reason: str | None = None) -> None:
    with services.Session.begin() as session:
        line = session.get(WageLine, line_id)
        line.status = status
        if status == WageLineStatus.PAID:
            line.paid_at = utcnow()
        line.settled_reason = reason


def engagement(services, pw_id: int) -> ProjectWorker:
    with services.Session() as session:
        pw = session.get(ProjectWorker, pw_id)
        session.expunge(pw)
        return pw


def revocations(services, pw_id: int) -> list[SiteAccessRevocation]:
    with services.Session() as session:
        return list(session.scalars(select(SiteAccessRevocation).where(
            SiteAccessRevocation.project_worker_id == pw_id)))


def audit_actions(services, pw_id: int) -> list[str]:
    with services.Session() as session:
        return list(session.scalars(select(AuditLog.action).where(
            AuditLog.target_type == "project_worker", AuditLog.target_id == str(pw_id)).order_by(AuditLog.id)))


def converter(services):
    """The platform's payload codec with the test stacks' key, as in production (docs/payload-encryption.md)."""
    return data_converter(make_settings(services.settings.home, payload_keys=TEST_PAYLOAD_KEY))


@dataclass
class ExitWorker:
    client: Client
    task_queue: str


@asynccontextmanager
async def exit_worker(env, services):
    """A worker for WorkerExitWorkflow on a fresh task queue, and a client; both encrypt payloads."""
    client = Client(**{**env.client.config(), "data_converter": converter(services)})
    task_queue = f"tq-{uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[WorkerExitWorkflow],
                          activities=WorkerExitActivities(services).all(), activity_executor=executor):
            yield ExitWorker(client, task_queue)


async def start(w: ExitWorker, workflow_id: str, pw_id: int, actor_id: int):
    return await w.client.start_workflow(WorkerExitWorkflow.run, WorkerExitInput(pw_id, actor_id),
                                         id=workflow_id, task_queue=w.task_queue)


async def status_when(handle, predicate, what: str):
    async def probe():
        view = await handle.query(WorkerExitWorkflow.status)
        return view if predicate(view) else None

    return await wait_for(probe, what)


async def record(handle, services, name: str) -> None:
    history = await handle.fetch_history()
    await Replayer(workflows=[WorkerExitWorkflow], data_converter=converter(services)).replay_workflow(history)
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / f"worker_exit_{name}.json").write_text(history.to_json())


# ---- tests ---------------------------------------------------------------------------------------


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
