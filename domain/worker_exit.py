"""Worker exit (PAY-7, 人员退场确认): facts of the exit of a worker from a project.

A labour specialist (the project account) requests the exit of an active engagement; the process
(WorkerExitWorkflow, id `worker-exit-<project_worker_id>`) then waits until nothing is owed:

- no line of this worker in an *open* wage run of this project is still unpaid (a line counts as
  done when it is `paid` or `settled`; completed and cancelled runs have no open lines to wait for);
- no local month in which the worker punched on this project is without a wage run (open or
  completed): attendance that no run has taken up yet is wages not yet paid, so the exit waits
  for that month's run to be opened and its line paid. A cancelled run does not count.

When both are clear the exit is recorded (exit date, status `exited`) together with one
`SiteAccessRevocation` row for the engagement, which the gates and terminals will consume.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .errors import CodedError
from .calendar import LOCAL_TZ
from .models import (
    Account,
    ProjectWorker,
    Punch,
    SiteAccessRevocation,
    WageLine,
    WageLineStatus,
    WageRun,
    utcnow,
)
from .processes.wage_run import WageRunStatus
from .processes.worker_exit import REASON_MAX, EngagementStatus, workflow_id_for
from .processes.worker_exit import Refusal as R

ACTIVE, EXITING, EXITED = EngagementStatus.ACTIVE, EngagementStatus.EXITING, EngagementStatus.EXITED
STATUSES = tuple(EngagementStatus)
DONE_LINE_STATUSES = (WageLineStatus.PAID, WageLineStatus.SETTLED)
# a line of a cancelled run is never payable: it owes nothing (the month's attendance still counts)
CLOSED_LINE_STATUSES = DONE_LINE_STATUSES + (WageLineStatus.CANCELLED,)
HANDLED_RUN_STATUSES = ("open", "completed")


class WorkerExitError(CodedError):
    """A refused exit action; `code` is one of the snake-case codes of
    domain.processes.worker_exit.Refusal (not_found … reason_too_long)."""


@dataclass(frozen=True)
class UnpaidLine:
    line_id: int
    run_id: int
    month: str
    net_fen: int
    status: str


@dataclass
class Outstanding:
    """What still keeps a worker from leaving a project."""

    lines: list[UnpaidLine] = field(default_factory=list)
    months_without_run: list[str] = field(default_factory=list)  # "YYYY-MM", ascending

    @property
    def clear(self) -> bool:
        return not self.lines and not self.months_without_run

    @property
    def unpaid_fen(self) -> int:
        return sum(line.net_fen for line in self.lines)


def engagement(session: Session, project_id: Optional[int], project_worker_id: int) -> ProjectWorker:
    """The engagement if it belongs to `project_id`; anything else is `not_found` (no leak)."""
    pw = session.get(ProjectWorker, project_worker_id)
    if pw is None or project_id is None or pw.project_id != project_id:
        raise WorkerExitError(R.NOT_FOUND)
    return pw


def unpaid_lines(session: Session, project_id: int, worker_id: int) -> list[UnpaidLine]:
    """Lines of the worker in the project's open runs that are neither paid nor settled."""
    rows = session.execute(
        select(WageLine.id, WageLine.run_id, WageRun.month, WageLine.net_fen, WageLine.status)
        .join(WageRun, WageRun.id == WageLine.run_id)
        .where(WageRun.project_id == project_id, WageRun.status == WageRunStatus.OPEN, WageLine.worker_id == worker_id,
               WageLine.status.not_in(CLOSED_LINE_STATUSES))
        .order_by(WageRun.month, WageLine.seq))
    return [UnpaidLine(*row) for row in rows]


def months_without_run(session: Session, project_id: int, worker_id: int) -> list[str]:
    """Local months in which the worker punched on the project and no open or completed run exists."""
    handled = set(session.scalars(select(WageRun.month).where(
        WageRun.project_id == project_id, WageRun.status.in_(HANDLED_RUN_STATUSES))))
    months: set[str] = set()
    punch = Punch.__table__
    for (moment,) in session.execute(select(punch.c.punched_at).where(
            punch.c.project_id == project_id, punch.c.worker_id == worker_id)):
        months.add(moment.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).strftime("%Y-%m"))
    return sorted(months - handled)


def outstanding(session: Session, pw: ProjectWorker) -> Outstanding:
    return Outstanding(unpaid_lines(session, pw.project_id, pw.worker_id),
                       months_without_run(session, pw.project_id, pw.worker_id))


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise WorkerExitError(R.REASON_REQUIRED_FACT)
    if len(reason) > REASON_MAX:
        raise WorkerExitError(R.REASON_TOO_LONG_FACT)
    return reason


def request_exit(session: Session, project_id: Optional[int], project_worker_id: int, actor: Account,
                 reason: str, remote_addr: Optional[str] = None) -> ProjectWorker:
    """Mark an active engagement of the actor's project as exiting; the caller starts the process.

    A second request while one is under way, or after the exit, is refused.
    """
    pw = engagement(session, project_id, project_worker_id)
    reason = _reason(reason)
    if pw.status == EXITING:
        raise WorkerExitError(R.ALREADY_REQUESTED)
    if pw.status == EXITED:
        raise WorkerExitError(R.ALREADY_EXITED)
    pw.status = EXITING
    pw.exit_workflow_id = workflow_id_for(pw.id)
    pw.exit_requested_at = utcnow()
    pw.exit_requested_by = actor.id
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="worker.exit_request",
                 target_type="project_worker", target_id=pw.id, business_key=pw.exit_workflow_id,
                 reason=reason, remote_addr=remote_addr)
    session.flush()
    return pw


def cancel_exit(session: Session, project_worker_id: int, actor: Optional[Account], reason: str,
                workflow_id: Optional[str] = None) -> ProjectWorker:
    """Back to active (the process calls this when the requester withdraws, or with `actor=None`
    when an administrator cancels the process); idempotent."""
    pw = session.get(ProjectWorker, project_worker_id)
    if pw is None:
        raise WorkerExitError(R.NOT_FOUND)
    reason = _reason(reason)
    if pw.status == ACTIVE:
        return pw  # a retry after the commit
    if pw.status != EXITING or (workflow_id is not None and pw.exit_workflow_id != workflow_id):
        raise WorkerExitError(R.NOT_EXITING)
    pw.status = ACTIVE
    pw.exit_requested_at = None
    pw.exit_requested_by = None
    audit.record(session, actor_id=actor.id if actor else None, actor_name=actor.display_name if actor else "system",
                 action="worker.exit_cancel",
                 target_type="project_worker", target_id=pw.id, business_key=pw.exit_workflow_id, reason=reason)
    session.flush()
    return pw


def local_date(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL_TZ).date()


def finish_exit(session: Session, project_worker_id: int, at: datetime,
                workflow_id: Optional[str] = None) -> SiteAccessRevocation:
    """Record the exit (date = local day of `at`) and the site-access revocation; idempotent.

    Refused (`not_exiting`) unless the engagement is exiting under this process.
    """
    pw = session.get(ProjectWorker, project_worker_id)
    if pw is None:
        raise WorkerExitError(R.NOT_FOUND)
    existing = session.scalar(select(SiteAccessRevocation).where(
        SiteAccessRevocation.project_worker_id == pw.id))
    if pw.status == EXITED and existing is not None:
        return existing  # a retry after the commit
    if pw.status != EXITING or (workflow_id is not None and pw.exit_workflow_id != workflow_id):
        raise WorkerExitError(R.NOT_EXITING)
    moment = at if at.tzinfo is None else at.astimezone(timezone.utc).replace(tzinfo=None)
    pw.status = EXITED
    pw.exit_date = local_date(at)
    if existing is None:
        existing = SiteAccessRevocation(project_id=pw.project_id, worker_id=pw.worker_id, project_worker_id=pw.id,
                                        reason="worker_exit", workflow_id=pw.exit_workflow_id, issued_at=moment)
        session.add(existing)
    session.flush()
    audit.record(session, actor_id=None, actor_name="system", action="worker.exit",
                 target_type="project_worker", target_id=pw.id, business_key=pw.exit_workflow_id,
                 detail={"exit_date": pw.exit_date.isoformat(), "requested_by": pw.exit_requested_by})
    audit.record(session, actor_id=None, actor_name="system", action="site_access.revoke",
                 target_type="site_access_revocation", target_id=existing.id, business_key=pw.exit_workflow_id,
                 detail={"project_worker_id": pw.id, "worker_id": pw.worker_id})
    return existing
