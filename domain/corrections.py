"""The facts of punch corrections (补卡): who may ask, who may decide, and the record itself.

- Requested by the project's labour or project staff: a project account acting for the project,
  or a subcontractor / labour-company account for a worker of its own company (`REQUESTER_ROLES`).
- Decided (approved or refused) by a project account acting for the project (`APPROVER_ROLES`),
  never by the account that asked (`OwnCorrection`), whatever its role.
- A correction names an engaged worker, a local day of the engagement that is not in the future, a
  direction and a local clock time; one pending or approved correction per worker, day and direction.

The requester's web view writes the row (`request_correction`) and starts its process
(AttendanceCorrectionWorkflow); the process's activity applies the decision (`decide`).
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, scope
from .calendar import LOCAL_TZ, local_today
from .errors import CodedError
from .models import Account, ProjectWorker, PunchCorrection, Role, utcnow
from .processes.attendance import Direction
from .processes.attendance_correction import (
    DECIDED_STATUS,
    REASON_MAX,
    CorrectionDecision,
    CorrectionRefusal as R,
    CorrectionStatus,
    workflow_id_for,
)

REQUESTER_ROLES = (Role.PROJECT, Role.COMPANY)
APPROVER_ROLES = (Role.PROJECT,)


class CorrectionError(CodedError):
    pass


def acts_for(session: Session, account: Account, project_id: int) -> bool:
    """Whether the account acts for the project (its own project, or one allocated to it)."""
    caller = scope.scope_of(session, account)
    return project_id in caller.project_ids


def may_request(session: Session, account: Account, project_id: int, company_id: Optional[int] = None) -> bool:
    if account.role not in REQUESTER_ROLES or not acts_for(session, account, project_id):
        return False
    return account.role != Role.COMPANY or company_id is None or account.company_id == company_id


def may_decide(session: Session, account: Account, correction: PunchCorrection) -> bool:
    """The approver's role on the correction's project; the requester never (see `check_decider`)."""
    return account.role in APPROVER_ROLES and acts_for(session, account, correction.project_id)


def check_decider(session: Session, account: Optional[Account], correction: PunchCorrection) -> None:
    if account is None or not may_decide(session, account, correction):
        raise CorrectionError(R.NOT_APPROVER)
    if account.id == correction.requested_by:
        raise CorrectionError(R.OWN_REQUEST)


def local_instant_utc(day: date, clock: time) -> datetime:
    """The naive-UTC instant of a local clock time on a local day."""
    return datetime.combine(day, clock, tzinfo=LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CorrectionError(R.REASON_REQUIRED)
    if len(reason) > REASON_MAX:
        raise CorrectionError(R.REASON_TOO_LONG)
    return reason


def _engagement(session: Session, project_id: int, worker_id: int, day: date) -> ProjectWorker:
    pw = session.scalar(select(ProjectWorker).where(ProjectWorker.project_id == project_id,
                                                    ProjectWorker.worker_id == worker_id))
    if pw is None:
        raise CorrectionError(R.UNKNOWN_WORKER)
    if day < pw.entry_date or (pw.exit_date is not None and day > pw.exit_date):
        raise CorrectionError(R.BAD_DAY)
    return pw


def request_correction(session: Session, actor: Account, *, project_id: int, worker_id: int, day: date,
                       direction: str, clock: time, reason: str, now: Optional[datetime] = None,
                       remote_addr: Optional[str] = None) -> PunchCorrection:
    """A pending correction, with its process's workflow id (the caller starts the process)."""
    if direction not in (Direction.IN, Direction.OUT):
        raise CorrectionError(R.BAD_DIRECTION)
    reason = _clean_reason(reason)
    if day > local_today(now.replace(tzinfo=timezone.utc) if now else None):
        raise CorrectionError(R.BAD_DAY)
    corrected_at = local_instant_utc(day, clock)
    if corrected_at > (now or utcnow()):
        raise CorrectionError(R.FUTURE_TIME)
    pw = _engagement(session, project_id, worker_id, day)
    if not may_request(session, actor, project_id, pw.company_id):
        raise CorrectionError(R.NOT_REQUESTER)
    taken = session.scalar(select(PunchCorrection.id).where(
        PunchCorrection.project_id == project_id, PunchCorrection.worker_id == worker_id,
        PunchCorrection.day == day, PunchCorrection.direction == direction,
        PunchCorrection.status.in_((CorrectionStatus.PENDING, CorrectionStatus.APPROVED))))
    if taken is not None:
        raise CorrectionError(R.DUPLICATE)
    correction = PunchCorrection(project_id=project_id, worker_id=worker_id, team_id=pw.team_id, day=day,
                                 direction=str(direction), corrected_at=corrected_at, reason=reason,
                                 status=CorrectionStatus.PENDING, requested_by=actor.id, requested_at=utcnow())
    session.add(correction)
    session.flush()
    correction.workflow_id = workflow_id_for(correction.id)
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="punch_correction.request",
                 target_type="punch_correction", target_id=correction.id, business_key=correction.workflow_id,
                 reason=reason, remote_addr=remote_addr)
    session.flush()
    return correction


def decide(session: Session, correction_id: int, actor: Optional[Account], decision: str,
           reason: str) -> PunchCorrection:
    """Approve or refuse a pending correction (the process's activity calls this); idempotent for the
    same decision by the same account."""
    correction = session.get(PunchCorrection, correction_id)
    if correction is None:
        raise CorrectionError(R.UNKNOWN_CORRECTION)
    if decision not in CorrectionDecision.ALL:
        raise CorrectionError(R.BAD_DECISION)
    target = DECIDED_STATUS[decision]
    if correction.status == target and actor is not None and correction.decided_by == actor.id:
        return correction  # a retry after the commit
    if correction.status != CorrectionStatus.PENDING:
        raise CorrectionError(R.NOT_PENDING)
    check_decider(session, actor, correction)
    reason = (reason or "").strip()
    if decision == CorrectionDecision.REFUSE:
        reason = _clean_reason(reason)
    elif len(reason) > REASON_MAX:
        raise CorrectionError(R.REASON_TOO_LONG)
    correction.status, correction.decided_by, correction.decided_at = target, actor.id, utcnow()
    correction.decision_reason = reason or None
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name,
                 action=f"punch_correction.{decision}", target_type="punch_correction",
                 target_id=correction.id, business_key=correction.workflow_id, reason=reason or None)
    return correction


def cancel(session: Session, correction_id: int) -> None:
    """The process was cancelled (or never started): a pending correction counts for nothing."""
    correction = session.get(PunchCorrection, correction_id)
    if correction is not None and correction.status == CorrectionStatus.PENDING:
        correction.status, correction.decided_at = CorrectionStatus.CANCELLED, utcnow()
