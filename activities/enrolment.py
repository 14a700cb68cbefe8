"""Activities of EnrolmentWorkflow (ENR-1, ENR-4…7); their messages: domain/processes/enrolment.py.

Ids only cross into the workflow: the enrolment row's id, counts, file ids; never a name, an ID
number, a phone or a face. Each activity is one short transaction over domain/enrolment.py and is
idempotent (each write finds its earlier self: the task round, the worker by ID number, the app
account by worker, the stored contract, the scan, the training row, the grant by engagement).
"""
from __future__ import annotations

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.refusal import refusal
from domain import audit, labour_contract, notify
from domain import enrolment as enr
from domain.models import Account, Enrolment, HumanTask, Project, Role, TaskStatus, utcnow
from domain.processes.enrolment import (
    TASK_KIND_DUPLICATE,
    CancelEnrolmentInput,
    CloseDuplicateTaskInput,
    CreateWorkerResult,
    DuplicateCheckResult,
    DuplicateDecision,
    EnrolmentRef,
    EnrolmentState,
    OpenDuplicateTaskResult,
    RecordContractScanInput,
    RecordTrainingInput,
    Refusal,
    RemindContractInput,
)
from domain.services import Services

_CODES = {"unknown_actor": Refusal.UNKNOWN_ACTOR, "unknown_file": Refusal.UNKNOWN_FILE,
          "not_ready": Refusal.NOT_AWAITING_DOCUMENTS}


def _refuse(exc: enr.EnrolmentError) -> ApplicationError:
    return refusal(str(exc), _CODES.get(exc.code, Refusal.NOT_FOUND))


class EnrolmentActivities:
    def __init__(self, services: Services):
        self.s = services

    def _enrolment(self, session, enrolment_id: int) -> Enrolment:
        row = session.get(Enrolment, enrolment_id)
        if row is None:
            raise refusal("unknown enrolment", Refusal.NOT_FOUND)
        if row.state == EnrolmentState.CANCELLED:
            raise refusal("the enrolment was cancelled", Refusal.CASE_FINISHED)
        return row

    @activity.defn
    def check_duplicate(self, inp: EnrolmentRef) -> DuplicateCheckResult:
        """Is the same person active on another project? (ENR-4)"""
        with self.s.Session() as session:
            others = enr.active_elsewhere(session, self._enrolment(session, inp.enrolment_id))
            return DuplicateCheckResult(bool(others), len(others))

    @activity.defn
    def open_duplicate_task(self, inp: EnrolmentRef) -> OpenDuplicateTaskResult:
        """The specialist's task: continue the enrolment or cancel it (the inbox row, round 1)."""
        with self.s.Session.begin() as session:
            row = self._enrolment(session, inp.enrolment_id)
            task = session.scalar(select(HumanTask).where(HumanTask.workflow_id == inp.workflow_id,
                                                          HumanTask.kind == TASK_KIND_DUPLICATE))
            if task is None:
                project = session.get(Project, row.project_id)
                task = HumanTask(kind=TASK_KIND_DUPLICATE, workflow_id=inp.workflow_id,
                                 business_key=inp.workflow_id, round=1, title=row.workflow_id,
                                 status=TaskStatus.ASSIGNED, candidate_role=Role.PROJECT,
                                 district_id=project.district_id, owner_id=row.started_by,
                                 created_at=utcnow(), assigned_at=utcnow())
                session.add(task)
                session.flush()
            row.state = EnrolmentState.DUPLICATE_REVIEW
            return OpenDuplicateTaskResult(task.id)

    @activity.defn
    def close_duplicate_task(self, inp: CloseDuplicateTaskInput) -> None:
        with self.s.Session.begin() as session:
            row = self._enrolment(session, inp.enrolment_id)
            actor = session.get(Account, inp.actor_id)
            if actor is None:
                raise refusal("unknown actor", Refusal.UNKNOWN_ACTOR)
            task = session.scalar(select(HumanTask).where(HumanTask.workflow_id == inp.workflow_id,
                                                          HumanTask.kind == TASK_KIND_DUPLICATE))
            if task is not None and task.status in TaskStatus.OPEN:
                task.status, task.finished_at, task.outcome = TaskStatus.DONE, utcnow(), inp.decision
                task.owner_id = actor.id
            if row.duplicate_decision is None:
                row.duplicate_decision, row.duplicate_reason = inp.decision, inp.reason.strip()[:200] or None
                audit.record(session, actor_id=actor.id, actor_name=actor.display_name,
                             action="enrolment_duplicate_decided", target_type="enrolment", target_id=row.id,
                             business_key=row.workflow_id, reason=inp.reason.strip() or None,
                             detail={"decision": inp.decision})
            if inp.decision == DuplicateDecision.CANCEL:
                enr.cancel(session, row, inp.reason.strip() or "duplicate")

    @activity.defn
    def create_worker(self, inp: EnrolmentRef) -> CreateWorkerResult:
        with self.s.Session.begin() as session:
            row = self._enrolment(session, inp.enrolment_id)
            pw = enr.create_worker(session, self.s.cipher, row)
            return CreateWorkerResult(pw.worker_id, pw.id)

    @activity.defn
    def create_app_account(self, inp: EnrolmentRef) -> None:
        with self.s.Session.begin() as session:
            enr.create_app_account(session, self.s.cipher, self._enrolment(session, inp.enrolment_id))

    @activity.defn
    def generate_contract(self, inp: EnrolmentRef) -> int:
        """The labour contract .docx, stored; its file id."""
        with self.s.Session.begin() as session:
            return labour_contract.generate_contract(session, self.s.cipher, self.s.blobs,
                                                     self._enrolment(session, inp.enrolment_id)).id

    @activity.defn
    def record_contract_scan(self, inp: RecordContractScanInput) -> None:
        with self.s.Session.begin() as session:
            try:
                enr.record_contract_scan(session, self._enrolment(session, inp.enrolment_id), inp.actor_id,
                                         inp.file_id)
            except enr.EnrolmentError as exc:
                raise _refuse(exc) from None

    @activity.defn
    def record_training(self, inp: RecordTrainingInput) -> None:
        with self.s.Session.begin() as session:
            try:
                enr.record_training(session, self._enrolment(session, inp.enrolment_id), inp.actor_id,
                                    inp.course, inp.trained_on, inp.hours_x10, inp.certificate_file_id)
            except enr.EnrolmentError as exc:
                raise _refuse(exc) from None

    @activity.defn
    def remind_contract(self, inp: RemindContractInput) -> None:
        """The signed contract or the training is still missing: tell the specialist who enrolled."""
        with self.s.Session.begin() as session:
            row = self._enrolment(session, inp.enrolment_id)
            notify.enqueue(session, self.s.cipher, dedupe_key=f"enrolment-remind-{row.id}-{inp.count}",
                           channel="inbox", template="enrolment_documents_missing", account_id=row.started_by,
                           body=f"{row.workflow_id}|{inp.count}")

    @activity.defn
    def admit_worker(self, inp: EnrolmentRef) -> None:
        with self.s.Session.begin() as session:
            row = self._enrolment(session, inp.enrolment_id)
            try:
                enr.admit(session, row, utcnow())
            except enr.EnrolmentError as exc:
                raise _refuse(exc) from None
            audit.record(session, actor_id=None, actor_name="system", action="site_access_granted",
                         target_type="enrolment", target_id=row.id, business_key=row.workflow_id,
                         detail={"project_worker_id": row.project_worker_id})

    @activity.defn
    def cancel_enrolment(self, inp: CancelEnrolmentInput) -> None:
        with self.s.Session.begin() as session:
            row = session.get(Enrolment, inp.enrolment_id)
            if row is None:
                raise refusal("unknown enrolment", Refusal.NOT_FOUND)
            task = session.scalar(select(HumanTask).where(HumanTask.workflow_id == inp.workflow_id,
                                                          HumanTask.kind == TASK_KIND_DUPLICATE))
            if task is not None and task.status in TaskStatus.OPEN:
                task.status, task.finished_at, task.outcome = TaskStatus.CANCELED, utcnow(), "cancelled"
            enr.cancel(session, row, inp.reason)

    def all(self) -> list:
        return [self.check_duplicate, self.open_duplicate_task, self.close_duplicate_task, self.create_worker,
                self.create_app_account, self.generate_contract, self.record_contract_scan, self.record_training,
                self.remind_contract, self.admit_worker, self.cancel_enrolment]
