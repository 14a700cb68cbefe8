"""Punch corrections (补卡) on the real dev server: requested by the project's staff, approved or
refused by another account with the approver's role; the requester cannot decide their own, nor can
an account without the role. Payloads go through the platform's codec (the test stacks' key);
SHIMING_RECORD_HISTORIES=1 refreshes the committed histories replayed by test_attendance_correction_replay.py.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date, time
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.worker import Replayer, Worker

from activities.attendance_correction import CorrectionActivities
from domain import corrections as dc
from domain.attendance import monthly_summary
from domain.models import Account, AuditLog, HumanTask, PunchCorrection, TaskStatus
from domain.processes.attendance import Direction
from domain.processes.attendance_correction import (
    CorrectionDecideInput,
    CorrectionDecision,
    CorrectionInput,
    CorrectionRefusal,
    CorrectionStatus,
)
from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.attendance_site import MONTH, build_site
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.workflow_env import wait_for
from workflows.attendance_correction import AttendanceCorrectionWorkflow

HISTORIES = Path(__file__).parent / "histories"


def converter(services):
    return data_converter(make_settings(services.settings.home, payload_keys=TEST_PAYLOAD_KEY))


@asynccontextmanager
async def correction_worker(env, services):
    client = Client(**{**env.client.config(), "data_converter": converter(services)})
    task_queue = f"tq-{uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[AttendanceCorrectionWorkflow],
                          activities=CorrectionActivities(services).all(), activity_executor=executor):
            yield client, task_queue


def request(services, site, worker="丙", day=date(2026, 10, 20), clock=time(8, 0), requester=None) -> tuple[int, str]:
    with services.Session.begin() as db:
        actor = db.get(Account, requester or site.requester_id)
        c = dc.request_correction(db, actor, project_id=site.project_id, worker_id=site.workers[worker], day=day,
                                  direction=Direction.IN, clock=clock, reason="闸机断电，未能打卡")
        return c.id, c.workflow_id


async def start(client, queue, services, site, **kwargs):
    correction_id, workflow_id = request(services, site, **kwargs)
    handle = await client.start_workflow(AttendanceCorrectionWorkflow.run,
                                         CorrectionInput(correction_id, kwargs.get("requester") or site.requester_id),
                                         id=workflow_id, task_queue=queue)
    await wait_for(lambda: _task(services, workflow_id), "the approval's inbox row")
    return correction_id, handle


def _task(services, workflow_id):
    with services.Session() as db:
        return db.scalar(select(HumanTask).where(HumanTask.workflow_id == workflow_id))


def _correction(services, correction_id) -> PunchCorrection:
    with services.Session() as db:
        c = db.get(PunchCorrection, correction_id)
        db.expunge(c)
        return c


async def refused(handle, actor_id, decision, reason, code):
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(AttendanceCorrectionWorkflow.decide, CorrectionDecideInput(actor_id, decision, reason))
    cause = caught.value.cause
    assert (getattr(cause, "type", None) or getattr(cause.cause, "type", None)) == code


async def record(handle, services, name: str) -> None:
    history = await handle.fetch_history()
    await Replayer(workflows=[AttendanceCorrectionWorkflow], data_converter=converter(services)).replay_workflow(history)
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / f"attendance_correction_{name}.json").write_text(history.to_json())


async def test_correction_is_approved_by_another_project_account_never_by_its_requester(dev_env, services):
    site = build_site(services)
    async with correction_worker(dev_env, services) as (client, queue):
        correction_id, handle = await start(client, queue, services, site)
        await refused(handle, site.requester_id, CorrectionDecision.APPROVE, "", CorrectionRefusal.OWN_REQUEST)
        await refused(handle, site.company_account_id, CorrectionDecision.APPROVE, "", CorrectionRefusal.NOT_APPROVER)
        assert _correction(services, correction_id).status == CorrectionStatus.PENDING
        status = await handle.execute_update(AttendanceCorrectionWorkflow.decide,
                                             CorrectionDecideInput(site.approver_id, CorrectionDecision.APPROVE))
        assert status == CorrectionStatus.APPROVED
        result = await handle.result()
        assert (result.status, result.approver_id) == (CorrectionStatus.APPROVED, site.approver_id)
        await record(handle, services, "approved_after_refusals")
    c = _correction(services, correction_id)
    assert (c.status, c.requested_by, c.decided_by) == (CorrectionStatus.APPROVED, site.requester_id, site.approver_id)
    task = _task(services, handle.id)
    assert (task.status, task.outcome, task.owner_id) == (TaskStatus.DONE, CorrectionDecision.APPROVE, site.approver_id)
    with services.Session() as db:
        actions = list(db.scalars(select(AuditLog.action).where(AuditLog.business_key == handle.id)
                                  .order_by(AuditLog.id)))
        row = {r.name: r for r in monthly_summary(db, site.project_id, MONTH)}["丙"]
    assert actions == ["punch_correction.request", "punch_correction.approve"]
    assert (row.days, row.corrections, row.corrected_days) == (2, 1, 1)  # the 20th, by correction only


async def test_correction_is_refused_with_a_reason_and_counts_for_nothing(dev_env, services):
    site = build_site(services)
    async with correction_worker(dev_env, services) as (client, queue):
        correction_id, handle = await start(client, queue, services, site, worker="甲", requester=site.company_account_id)
        await refused(handle, site.approver_id, CorrectionDecision.REFUSE, "  ", CorrectionRefusal.REASON_REQUIRED)
        await refused(handle, site.approver_id, "maybe", "x", CorrectionRefusal.BAD_DECISION)
        status = await handle.execute_update(AttendanceCorrectionWorkflow.decide, CorrectionDecideInput(
            site.requester_id, CorrectionDecision.REFUSE, "当天未进场"))
        assert status == CorrectionStatus.REFUSED
        assert (await handle.result()).status == CorrectionStatus.REFUSED
        await record(handle, services, "refused")
    c = _correction(services, correction_id)
    assert (c.status, c.decision_reason, c.decided_by) == (CorrectionStatus.REFUSED, "当天未进场", site.requester_id)
    with services.Session() as db:
        row = {r.name: r for r in monthly_summary(db, site.project_id, MONTH)}["甲"]
    assert (row.days, row.corrections) == (2, 1)  # the known site's figures, unchanged


async def test_cancelled_correction_counts_for_nothing_and_closes_its_inbox_row(dev_env, services):
    site = build_site(services)
    async with correction_worker(dev_env, services) as (client, queue):
        correction_id, handle = await start(client, queue, services, site)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        await record(handle, services, "cancelled")
    assert _correction(services, correction_id).status == CorrectionStatus.CANCELLED
    assert _task(services, handle.id).status == TaskStatus.CANCELED


def test_request_is_refused_with_its_code_and_writes_nothing(services):
    site = build_site(services)
    cases = [
        (dict(worker="丙", day=date(2099, 1, 1)), CorrectionRefusal.BAD_DAY),
        (dict(worker="丙", day=date(2026, 8, 1)), CorrectionRefusal.BAD_DAY),  # before the entry
        (dict(worker="乙", day=date(2026, 10, 13)), CorrectionRefusal.DUPLICATE),  # approved already
        (dict(worker="丙", requester=site.approver_id, day=date(2026, 10, 21)), None),
        # the labour company asks for the contractor's worker: not its own
        (dict(worker="丙", requester=site.company_account_id, day=date(2026, 10, 23)), CorrectionRefusal.NOT_REQUESTER),
    ]
    for kwargs, code in cases:
        if code is None:
            request(services, site, **kwargs)
            continue
        with pytest.raises(dc.CorrectionError) as caught:
            request(services, site, **kwargs)
        assert caught.value.code == code
    with services.Session() as db:
        reviewer = db.scalar(select(Account.id).where(Account.username == "reviewer"))  # the bureau's
    with pytest.raises(dc.CorrectionError) as caught:
        request(services, site, requester=reviewer, day=date(2026, 10, 22))
    assert caught.value.code == CorrectionRefusal.NOT_REQUESTER
    with services.Session() as db:
        assert db.scalar(select(PunchCorrection.id).where(PunchCorrection.day == date(2099, 1, 1))) is None
