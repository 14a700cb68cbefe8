"""Activities of WorkerExitWorkflow (PAY-7); their messages: domain/processes/worker_exit.py.

Ids only cross into the workflow: counts and months, never a name, an ID number or a card.
Each activity is one short transaction and idempotent (notification dedupe keys; finishing and
cancelling find their own earlier write).
"""
from __future__ import annotations

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.refusal import refusal
from domain import notify
from domain import worker_exit as wx
from domain.models import Account, ProjectWorker, Role
from domain.processes.worker_exit import (
    CancelExitInput,
    EngagementStatus,
    ExitRef,
    FinishExitInput,
    FinishExitResult,
    OutstandingResult,
    Refusal,
    RemindExitInput,
)
from domain.services import Services


def _refuse(exc: wx.WorkerExitError) -> ApplicationError:
    return refusal(str(exc), exc.code)


class WorkerExitActivities:
    def __init__(self, services: Services):
        self.s = services

    @activity.defn
    def check_outstanding(self, inp: ExitRef) -> OutstandingResult:
        """Unpaid lines in open runs and months with punches but no run, for this engagement."""
        with self.s.Session() as session:
            pw = session.get(ProjectWorker, inp.project_worker_id)
            if pw is None:
                raise refusal("unknown engagement", Refusal.NOT_FOUND)
            found = wx.outstanding(session, pw)
            return OutstandingResult(len(found.lines), found.unpaid_fen, found.months_without_run)

    @activity.defn
    def remind_exit(self, inp: RemindExitInput) -> None:
        """The exit still waits: tell the project's active project accounts (and the requester)."""
        with self.s.Session.begin() as session:
            pw = session.get(ProjectWorker, inp.project_worker_id)
            if pw is None or pw.status != EngagementStatus.EXITING or pw.exit_requested_at is None:
                return
            targets = set(session.scalars(select(Account.id).where(
                Account.role == Role.PROJECT, Account.project_id == pw.project_id, Account.is_active.is_(True))))
            if pw.exit_requested_by is not None:
                targets.add(pw.exit_requested_by)
            stamp = pw.exit_requested_at.strftime("%Y%m%d%H%M%S%f")  # one series per request
            for account_id in sorted(targets):
                notify.enqueue(session, self.s.cipher,
                               dedupe_key=f"worker-exit-remind-{pw.id}-{stamp}-{inp.count}-{account_id}",
                               channel="inbox", template="worker_exit_waiting", account_id=account_id,
                               body=f"{pw.exit_workflow_id}|{inp.count}")

    @activity.defn
    def finish_exit(self, inp: FinishExitInput) -> FinishExitResult:
        with self.s.Session.begin() as session:
            try:
                revocation = wx.finish_exit(session, inp.project_worker_id, inp.at, inp.workflow_id)
            except wx.WorkerExitError as exc:
                raise _refuse(exc) from None
            pw = session.get(ProjectWorker, inp.project_worker_id)
            return FinishExitResult(pw.exit_date.isoformat(), revocation.id)

    @activity.defn
    def cancel_exit(self, inp: CancelExitInput) -> None:
        with self.s.Session.begin() as session:
            actor = session.get(Account, inp.actor_id) if inp.actor_id is not None else None
            if inp.actor_id is not None and actor is None:
                raise refusal("unknown actor", Refusal.UNKNOWN_ACTOR)
            try:
                wx.cancel_exit(session, inp.project_worker_id, actor, inp.reason, inp.workflow_id)
            except wx.WorkerExitError as exc:
                raise _refuse(exc) from None

    def all(self) -> list:
        return [self.check_outstanding, self.remind_exit, self.finish_exit, self.cancel_exit]
