"""Worker-exit test helpers on a Temporal test server (tests/workflows/test_worker_exit*.py): a small
workforce of the demo project, an exit request, MONTH's run with one line of the worker, the
engagement, its revocations and audit rows, and a WorkerExitWorkflow worker whose payloads go
through the platform's codec. `record` replays a history and, with SHIMING_RECORD_HISTORIES=1,
refreshes the committed one."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from activities.worker_exit import WorkerExitActivities
from domain import worker_exit as wx
from domain.models import (
    Account, AuditLog, Project, ProjectWorker, SiteAccessRevocation, WageAccount, WageLine, WageLineStatus, utcnow,
)
from domain.processes.worker_exit import WorkerExitInput
from domain.wage_run import open_run
from shiming.seed_workforce import seed_workforce
from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.workflow_env import wait_for
from workflows.worker_exit import WorkerExitWorkflow

MONTH = "2026-10"
HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


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
