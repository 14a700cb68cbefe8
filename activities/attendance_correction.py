"""Activities of AttendanceCorrectionWorkflow (their messages: domain/processes/attendance_correction.py).

Each is one short transaction and idempotent: the inbox row is unique per (workflow, kind, round),
a decision already recorded by the same account is found again and changes nothing twice.
Payloads carry ids only.
"""
from __future__ import annotations

from datetime import timezone

from sqlalchemy import select
from temporalio import activity

from activities.refusal import refusal
from domain import corrections
from domain.models import Account, HumanTask, Project, PunchCorrection, Role, TaskStatus, utcnow
from domain.processes.attendance_correction import (
    TASK_KIND,
    CancelCorrectionInput,
    CorrectionRefusal,
    OpenCorrectionTaskInput,
    OpenCorrectionTaskResult,
    RecordCorrectionDecisionInput,
    RecordCorrectionDecisionResult,
)
from domain.services import Services


class CorrectionActivities:
    def __init__(self, services: Services):
        self.s = services

    @activity.defn
    def open_correction_task(self, inp: OpenCorrectionTaskInput) -> OpenCorrectionTaskResult:
        """The approval's inbox row (candidate role: the approver's, the project's district)."""
        with self.s.Session.begin() as session:
            correction = session.get(PunchCorrection, inp.correction_id)
            if correction is None:
                raise refusal("unknown correction", CorrectionRefusal.UNKNOWN_CORRECTION)
            task = session.scalar(select(HumanTask).where(
                HumanTask.workflow_id == inp.workflow_id, HumanTask.kind == TASK_KIND, HumanTask.round == 1))
            if task is None:
                project = session.get(Project, correction.project_id)
                task = HumanTask(kind=TASK_KIND, workflow_id=inp.workflow_id, business_key=inp.workflow_id,
                                 round=1, title=f"{project.name} {correction.day.isoformat()}"[:300],
                                 status=TaskStatus.NEW, candidate_role=Role.PROJECT, district_id=project.district_id,
                                 created_at=inp.opened_at.astimezone(timezone.utc).replace(tzinfo=None))
                session.add(task)
                session.flush()
            return OpenCorrectionTaskResult(task.id)

    @activity.defn
    def record_correction_decision(self, inp: RecordCorrectionDecisionInput) -> RecordCorrectionDecisionResult:
        """Apply the decision and close the inbox row, in one transaction."""
        with self.s.Session.begin() as session:
            actor = session.get(Account, inp.actor_id)
            try:
                correction = corrections.decide(session, inp.correction_id, actor, inp.decision, inp.reason)
            except corrections.CorrectionError as exc:
                raise refusal(str(exc), exc.code) from None
            task = session.get(HumanTask, inp.task_id)
            if task.status in TaskStatus.OPEN:
                task.status, task.finished_at, task.outcome = TaskStatus.DONE, utcnow(), inp.decision
                task.owner_id = actor.id
            return RecordCorrectionDecisionResult(correction.status)

    @activity.defn
    def cancel_correction(self, inp: CancelCorrectionInput) -> None:
        with self.s.Session.begin() as session:
            corrections.cancel(session, inp.correction_id)
            for task in session.scalars(select(HumanTask).where(HumanTask.workflow_id == inp.workflow_id,
                                                                HumanTask.status.in_(TaskStatus.OPEN))):
                task.status, task.finished_at = TaskStatus.CANCELED, utcnow()

    def all(self) -> list:
        return [self.open_correction_task, self.record_correction_decision, self.cancel_correction]
