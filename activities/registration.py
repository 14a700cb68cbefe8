"""Activities of ProjectRegistrationWorkflow (their messages: domain/processes/registration.py).

Each activity is one short transaction and is idempotent: a retry after a worker crash finds
its own earlier write (unique keys on task rounds, outbox dedupe keys) and changes nothing twice.
Payloads carry ids only: no phone numbers or other PII ever enter workflow history.
"""
from __future__ import annotations

from datetime import datetime, timezone

from temporalio import activity

from activities.refusal import refusal
from domain import audit, notify
from domain import registration as reg
from domain.models import (
    Account,
    HumanTask,
    RegistrationApplication,
    RegistrationStatus,
    Role,
    TaskStatus,
    utcnow,
)
from domain.calendar import LOCAL_TZ
from domain.processes.registration import (
    TASK_KIND,
    ApplyCorrectionInput,
    ApplyCorrectionResult,
    AssignTaskInput,
    CancelRegistrationInput,
    Decision,
    OpenReviewTaskInput,
    OpenReviewTaskResult,
    RecordDecisionInput,
    RecordDecisionResult,
    Refusal,
    TaskTimerInput,
)
from domain.services import Services
from sqlalchemy import select

def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _aware_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc)


class RegistrationActivities:
    def __init__(self, services: Services):
        self.s = services

    def _actor(self, session, actor_id: int) -> Account:
        actor = session.get(Account, actor_id)
        if actor is None:
            raise refusal("unknown actor", Refusal.UNKNOWN_ACTOR)
        return actor

    @activity.defn
    def open_review_task(self, inp: OpenReviewTaskInput) -> OpenReviewTaskResult:
        """Write the inbox row for this review round and compute its due and escalation times."""
        opened_local = inp.opened_at.astimezone(LOCAL_TZ)
        days = self.s.settings.review_due_working_days
        due = self.s.calendar.add_working_days(opened_local, days)
        escalate = self.s.calendar.add_working_days(opened_local, 2 * days)
        with self.s.Session.begin() as session:
            app = session.get(RegistrationApplication, inp.application_id)
            if app is None:
                raise refusal("unknown application", Refusal.UNKNOWN_APPLICATION)
            if app.status == RegistrationStatus.CANCELLED:  # the cancel's clean-up ran first: open nothing
                raise refusal("the application was cancelled", Refusal.CASE_FINISHED)
            task = session.scalar(select(HumanTask).where(
                HumanTask.workflow_id == inp.workflow_id, HumanTask.kind == TASK_KIND, HumanTask.round == inp.round))
            if task is None:
                task = HumanTask(
                    kind=TASK_KIND, workflow_id=inp.workflow_id, business_key=app.number, round=inp.round,
                    title=app.name[:300], status=TaskStatus.NEW, candidate_role=Role.BUREAU_REVIEWER,
                    district_id=app.district_id, created_at=_naive_utc(inp.opened_at),
                    due_at=_naive_utc(due), escalate_at=_naive_utc(escalate),
                )
                session.add(task)
                session.flush()
            if app.status == RegistrationStatus.DRAFT:
                app.status = RegistrationStatus.IN_REVIEW
                app.submitted_at = _naive_utc(inp.opened_at)
                audit.record(session, actor_id=None, actor_name=app.contact_name, action="registration.submit",
                             target_type="registration", target_id=app.id, business_key=app.number)
            return OpenReviewTaskResult(task.id, _aware_utc(task.due_at), _aware_utc(task.escalate_at))

    @activity.defn
    def assign_review_task(self, inp: AssignTaskInput) -> None:
        with self.s.Session.begin() as session:
            task = session.get(HumanTask, inp.task_id)
            actor = self._actor(session, inp.actor_id)
            if inp.claim:
                if task.owner_id == actor.id and task.status == TaskStatus.ASSIGNED:
                    return
                task.owner_id, task.status, task.assigned_at = actor.id, TaskStatus.ASSIGNED, utcnow()
            else:
                if task.owner_id is None:
                    return
                task.owner_id, task.status, task.assigned_at = None, TaskStatus.NEW, None
            audit.record(session, actor_id=actor.id, actor_name=actor.display_name,
                         action="task.claim" if inp.claim else "task.unclaim",
                         target_type="task", target_id=task.id, business_key=task.business_key)

    def _reviewers(self, session, district_id: int, roles: tuple[str, ...]) -> list[Account]:
        return list(session.scalars(select(Account).where(
            Account.role.in_(roles), Account.district_id == district_id, Account.is_active.is_(True))))

    @activity.defn
    def remind_review_task(self, inp: TaskTimerInput) -> None:
        """Due time reached: remind the claimant, or every reviewer of the district if unclaimed."""
        with self.s.Session.begin() as session:
            task = session.get(HumanTask, inp.task_id)
            if task.status not in TaskStatus.OPEN:
                return
            targets = [task.owner_id] if task.owner_id else [
                a.id for a in self._reviewers(session, task.district_id, (Role.BUREAU_REVIEWER,))]
            for account_id in targets:
                notify.enqueue(session, self.s.cipher, dedupe_key=f"remind-{task.id}-{account_id}",
                               channel="inbox", template="review_overdue", account_id=account_id,
                               body=f"{task.business_key}|{task.title}")
            if task.reminded_at is None:
                task.reminded_at = utcnow()
                audit.record(session, actor_id=None, actor_name="system", action="task.remind",
                             target_type="task", target_id=task.id, business_key=task.business_key)

    @activity.defn
    def escalate_review_task(self, inp: TaskTimerInput) -> None:
        """Twice the due time: the section chiefs of the district see and may decide the case."""
        with self.s.Session.begin() as session:
            task = session.get(HumanTask, inp.task_id)
            if task.status not in TaskStatus.OPEN or task.escalated_at is not None:
                return
            task.escalated_at = utcnow()
            for chief in self._reviewers(session, task.district_id, (Role.BUREAU_CHIEF,)):
                notify.enqueue(session, self.s.cipher, dedupe_key=f"escalate-{task.id}-{chief.id}",
                               channel="inbox", template="review_escalated", account_id=chief.id,
                               body=f"{task.business_key}|{task.title}")
            audit.record(session, actor_id=None, actor_name="system", action="task.escalate",
                         target_type="task", target_id=task.id, business_key=task.business_key)

    @activity.defn
    def record_decision(self, inp: RecordDecisionInput) -> RecordDecisionResult:
        """Close the inbox row and apply the decision, in one transaction."""
        with self.s.Session.begin() as session:
            app = session.get(RegistrationApplication, inp.application_id)
            task = session.get(HumanTask, inp.task_id)
            actor = self._actor(session, inp.actor_id)
            if task.status == TaskStatus.DONE:  # a retry after the commit: nothing to do twice
                return RecordDecisionResult(app.status, app.project_id)
            if app.status == RegistrationStatus.CANCELLED or task.status == TaskStatus.CANCELED:
                # the process was cancelled while the decision was on its way: the cancel stands
                raise refusal("the application was cancelled", Refusal.CASE_FINISHED)
            task.status, task.finished_at, task.outcome = TaskStatus.DONE, utcnow(), inp.decision
            task.owner_id = actor.id
            app.last_reason = inp.reason or None
            phone = self.s.cipher.decrypt(app.contact_phone_enc, "phone")
            public = self.s.settings.public_url.rstrip("/")
            if inp.decision == Decision.APPROVE:
                project, account, password = reg.approve(session, self.s.cipher, app)
                app.status, app.decided_at = RegistrationStatus.APPROVED, utcnow()
                if password is not None:
                    notify.enqueue(session, self.s.cipher, dedupe_key=f"credentials-{account.id}", channel="sms",
                                   template="registration_approved", phone=phone, account_id=account.id,
                                   body=f"{app.number}|{account.username}|{password}|{public}/login")
            elif inp.decision == Decision.REJECT:
                app.status, app.decided_at = RegistrationStatus.REJECTED, utcnow()
                notify.enqueue(session, self.s.cipher, dedupe_key=f"rejected-{app.id}", channel="sms",
                               template="registration_rejected", phone=phone, body=f"{app.number}|{inp.reason}")
            elif inp.decision == Decision.RETURN:
                app.status = RegistrationStatus.RETURNED
                notify.enqueue(session, self.s.cipher, dedupe_key=f"returned-{app.id}-{task.round}", channel="sms",
                               template="registration_returned", phone=phone,
                               body=f"{app.number}|{inp.reason}|{public}/register/status")
            else:
                raise refusal("unknown decision", Refusal.BAD_DECISION)
            audit.record(session, actor_id=actor.id, actor_name=actor.display_name,
                         action=f"registration.{inp.decision}", target_type="registration", target_id=app.id,
                         business_key=app.number, reason=inp.reason or None)
            return RecordDecisionResult(app.status, app.project_id)

    @activity.defn
    def apply_correction(self, inp: ApplyCorrectionInput) -> ApplyCorrectionResult:
        with self.s.Session.begin() as session:
            try:
                app = reg.apply_correction(session, self.s.cipher, inp.correction_id)
            except reg.RegistrationError as exc:
                raise refusal(str(exc), exc.code) from None
            if app.id != inp.application_id:
                raise refusal("correction of another application", Refusal.WRONG_APPLICATION)
            return ApplyCorrectionResult(app.revision)

    @activity.defn
    def cancel_registration(self, inp: CancelRegistrationInput) -> None:
        with self.s.Session.begin() as session:
            app = session.get(RegistrationApplication, inp.application_id)
            for task in reg.open_tasks(session, inp.workflow_id):
                task.status, task.finished_at, task.outcome = TaskStatus.CANCELED, utcnow(), RegistrationStatus.CANCELLED
            if app.status not in RegistrationStatus.FINAL:
                app.status, app.decided_at = RegistrationStatus.CANCELLED, utcnow()

    def all(self) -> list:
        return [self.open_review_task, self.assign_review_task, self.remind_review_task,
                self.escalate_review_task, self.record_decision, self.apply_correction,
                self.cancel_registration]
