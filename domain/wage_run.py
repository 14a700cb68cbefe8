"""Wage run facts: opening a run and signing its steps (PAY-3, PAY-4)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .errors import CodedError
from .processes.account_binding import AccountStatus
from .processes.wage_run import (
    BatchStatus,
    LineFailure,
    ReconcileState,
    WageLineStatus,
    WageRunStatus,
    workflow_id_for,
)
from .processes.wage_run import Refusal as R

from . import audit, signing
from .calendar import local_today, month_of
from .models import (
    Account,
    AuditLog,
    BankBatch,
    BankCard,
    Enterprise,
    HumanTask,
    Project,
    TaskStatus,
    WageAccount,
    WageLine,
    WageRun,
    WageStepSignature,
    utcnow,
)

MONTH_LEN = 7


class WageRunError(CodedError):
    """A refused wage-run action; `code` maps to a translated message."""


# lines that may still be paid: a cancel turns them `cancelled`. Submitted lines are money in flight
# and are never cancelled (the cancel is refused while a batch is unanswered).
CANCELLABLE_LINE_STATUSES = (WageLineStatus.PENDING, WageLineStatus.FAILED)


def is_month(text: str) -> bool:
    """Whether `text` is a calendar month written "YYYY-MM"."""
    return len(text) == MONTH_LEN and text[4] == "-" and (text[:4] + text[5:]).isdigit() \
        and 1 <= int(text[5:]) <= 12


def open_run(session: Session, project_id: int, month: str, actor: Account, today: date | None = None) -> WageRun:
    """The run row for a project and month; needs a bound wage account, refused if one exists.

    A month later than the current one (`today`, else the clock, in China Standard Time) is refused
    (`future_month`): nobody has worked it yet. The current month may be paid (mid-month runs).
    """
    if not is_month(month):
        raise WageRunError(R.BAD_MONTH)
    if month > month_of(today or local_today()):
        raise WageRunError(R.FUTURE_MONTH)
    project = session.get(Project, project_id)
    account = session.scalar(select(WageAccount).where(WageAccount.project_id == project_id,
                                                       WageAccount.status == AccountStatus.BOUND))
    if account is None:
        raise WageRunError(R.NO_WAGE_ACCOUNT)
    earlier = list(session.scalars(select(WageRun.status).where(WageRun.project_id == project_id,
                                                                 WageRun.month == month)))
    if any(status != WageRunStatus.CANCELLED for status in earlier):
        raise WageRunError(R.RUN_EXISTS)
    workflow_id = workflow_id_for(project.code, month, len(earlier) + 1)
    if session.scalar(select(WageRun.id).where(WageRun.workflow_id == workflow_id)) is not None:
        raise WageRunError(R.RUN_EXISTS)
    run = WageRun(project_id=project_id, month=month, workflow_id=workflow_id, wage_account_id=account.id)
    session.add(run)
    session.flush()
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="wage_run.open",
                 target_type="wage_run", target_id=run.id, business_key=workflow_id)
    return run


def money_in_flight(session: Session, run_id: int) -> bool:
    """A submitted batch of the run has not been answered by the bank yet."""
    return session.scalar(select(func.count()).select_from(BankBatch).where(
        BankBatch.run_id == run_id, BankBatch.status == BatchStatus.SUBMITTED)) > 0


def cancel_run(session: Session, run_id: int, reason: str, actor_id: int | None = None) -> bool:
    """Close what a cancelled run owns, in one transaction; idempotent (False: already cancelled).

    Unpaid lines (pending, failed) become `cancelled` — never payable, never blocking an exit; open
    inbox rows of the run's process close (CANCELED); the run is `cancelled`, audited with the
    reason (`wage_run.cancel`). Paid and settled lines stay as they are. Refused (`finished`) for a
    completed run and (`money_in_flight`) while a submitted batch is unanswered.
    """
    run = session.get(WageRun, run_id)
    if run is None:
        raise WageRunError(R.NOT_FOUND)
    if run.status == WageRunStatus.CANCELLED:
        return False
    if run.status != WageRunStatus.OPEN:
        raise WageRunError(R.FINISHED)
    if money_in_flight(session, run_id):
        raise WageRunError(R.MONEY_IN_FLIGHT_FACT)
    reason = (reason or "").strip()[:300] or "cancelled"
    cancelled = session.execute(update(WageLine).where(
        WageLine.run_id == run_id, WageLine.status.in_(CANCELLABLE_LINE_STATUSES))
        .values(status=WageLineStatus.CANCELLED)).rowcount
    now = utcnow()
    for task in session.scalars(select(HumanTask).where(HumanTask.workflow_id == run.workflow_id,
                                                        HumanTask.status.in_(TaskStatus.OPEN))):
        task.status, task.finished_at, task.outcome = TaskStatus.CANCELED, now, "cancelled"
    run.status, run.completed_at = WageRunStatus.CANCELLED, now
    actor = session.get(Account, actor_id) if actor_id else None
    audit.record(session, actor_id=actor.id if actor else None, actor_name=actor.display_name if actor else "system",
                 action="wage_run.cancel", target_type="wage_run", target_id=run.id, business_key=run.workflow_id,
                 reason=reason, detail={"cancelled_lines": cancelled, "month": run.month})
    session.flush()
    return True


def cancel_reason(session: Session, run: WageRun) -> str:
    """Why the run was cancelled (its `wage_run.cancel` audit row), or ""."""
    return session.scalar(select(AuditLog.reason).where(
        AuditLog.action == "wage_run.cancel", AuditLog.business_key == run.workflow_id)
        .order_by(AuditLog.id.desc()).limit(1)) or ""


def reconcile_state(session: Session, run_id: int) -> ReconcileState:
    """The run's lines counted by status: what the reconciliation step shows and waits on."""
    rows = dict(
        (status, (n, fen)) for status, n, fen in session.execute(
            select(WageLine.status, func.count(), func.coalesce(func.sum(WageLine.net_fen), 0))
            .where(WageLine.run_id == run_id).group_by(WageLine.status))
    )
    count = sum(n for n, _ in rows.values())
    paid, settled = rows.get(WageLineStatus.PAID, (0, 0)), rows.get(WageLineStatus.SETTLED, (0, 0))
    return ReconcileState(
        line_count=count, paid_lines=paid[0], failed_lines=rows.get(WageLineStatus.FAILED, (0, 0))[0],
        settled_lines=settled[0], open_lines=count - paid[0] - settled[0], paid_fen=int(paid[1]),
        settled_fen=int(settled[1]), table_fen=int(sum(fen for _, fen in rows.values())),
    )


def maker_checker_required(session: Session, project_id: int) -> bool:
    """PAY-4: whether the bank file needs a second specialist — the enterprise's setting, on by default
    (also for a project that no enterprise account owns yet)."""
    project = session.get(Project, project_id)
    enterprise = session.get(Enterprise, project.enterprise_id) if project and project.enterprise_id else None
    return True if enterprise is None else bool(enterprise.maker_checker)


def set_maker_checker(session: Session, enterprise_id: int, required: bool, actor: Account) -> bool:
    """Change the enterprise's maker-checker setting; returns whether it changed. Runs already open
    keep the rule they started with (it is part of their process input)."""
    enterprise = session.get(Enterprise, enterprise_id)
    if enterprise is None:
        raise WageRunError(R.NO_ENTERPRISE)
    if bool(enterprise.maker_checker) == required:
        return False
    enterprise.maker_checker = required
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="enterprise.maker_checker",
                 target_type="enterprise", target_id=enterprise.id, detail={"required": required})
    return True


def last_signature(session: Session, run_id: int) -> str | None:
    return session.scalar(select(WageStepSignature.signature).where(WageStepSignature.run_id == run_id)
                          .order_by(WageStepSignature.id.desc()).limit(1))


@dataclass
class SignedStep:
    step: str
    content_sha256: str
    document: str
    signature: str
    signing_key_id: int


def sign_step(Session: sessionmaker, account_id: int, security_password: str, run_id: int, step: str,
              content_sha256: str, at: datetime | None = None) -> SignedStep:
    """Unlock the specialist's key with the security password and sign the step document.

    Raises signing.SecurityPasswordError (wrong password, counted toward the lockout).
    """
    key = signing.unlock(Session, account_id, security_password)
    with Session() as session:
        prev = last_signature(session, run_id)
    document = signing.step_document(run_id=run_id, step=step, content_sha256=content_sha256, actor_id=account_id,
                                     signed_at=at or datetime.now(timezone.utc), prev_signature=prev)
    return SignedStep(step, content_sha256, document, signing.sign(key, document), key.key_id)


# --- re-issue: a failed card is never paid into again (issue 8, point 8) -----------------------

# the statement failure codes that are about the card itself (LineFailure): closed, unknown to the bank, or in another holder's name. A line failed for one
# of them fails again on the same card, so it is re-issued only once the worker has another card
# (or, for the holder's name, once the bank confirms the card in the worker's name: the re-issue
# activity asks it).
CARD_FAILURES = tuple(LineFailure)


@dataclass
class SameCardLine:
    line_id: int
    seq: int
    worker_id: int
    failure_code: str
    card_id: int


def lines_on_failed_card(session: Session, run_id: int) -> list[SameCardLine]:
    """Failed lines of the run whose card failure is still the worker's current card: a re-issue
    would send them to the card the bank has refused (refused `SameFailedCard`). Table order."""
    rows = session.execute(
        select(WageLine.id, WageLine.seq, WageLine.worker_id, WageLine.failure_code, WageLine.card_id)
        .join(BankCard, BankCard.id == WageLine.card_id)
        .where(WageLine.run_id == run_id, WageLine.status == WageLineStatus.FAILED,
               WageLine.failure_code.in_(CARD_FAILURES), BankCard.is_current.is_(True))
        .order_by(WageLine.seq))
    return [SameCardLine(*row) for row in rows]
