"""A case's history in business words: "2026-11-25 10:00 李审核 claimed the case"."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import AuditLog, HumanTask

from .i18n import local_time, outcome_label

ACTIONS = {
    "registration.create": _l("%(actor)s filled in the application form"),
    "registration.upload_scan": _l("%(actor)s uploaded the stamped scan"),
    "registration.submit": _l("The application entered review"),
    "registration.correction_saved": _l("%(actor)s saved a correction"),
    "registration.resubmit": _l("%(actor)s resubmitted the corrected application"),
    "task.claim": _l("%(actor)s claimed the case"),
    "task.unclaim": _l("%(actor)s released the case"),
    "task.remind": _l("The review is overdue: a reminder was sent"),
    "task.escalate": _l("The review is far overdue: it was escalated to the section chief"),
    "registration.approve": _l("%(actor)s approved the application"),
    "registration.reject": _l("%(actor)s rejected the application: %(reason)s"),
    "registration.return_for_correction": _l("%(actor)s returned it for correction: %(reason)s"),
    "admin.cancel": _l("%(actor)s cancelled the process: %(reason)s"),
    "admin.retry": _l("%(actor)s retried the process: %(reason)s"),
}
FALLBACK = _l("%(actor)s: %(action)s")
ROUND_OPENED = _l("Review round %(round)s opened, due %(due)s")
ROUND_CLOSED = _l("Review round %(round)s closed: %(outcome)s")
# decisions that have their own audit row: the closing of their round adds nothing
DECISIONS_AUDITED = ("approve", "reject", "return_for_correction")
# bank statements a person must know about (docs/bank-protocol.md §5, §7)
ACTIONS.update({
    "bank_statement.refused": _l("A bank statement was refused: it does not account for every line of the bank file"),
    "bank_statement.conflict": _l("A second, different bank statement arrived for a bank file; it was not applied "
                                  "and a task was opened for the payroll specialists"),
    "bank_statement.refused_at_apply": _l("A bank statement could not be applied and was set aside; the run waits "
                                          "for the bank's statement"),
})


@dataclass
class Entry:
    at: datetime  # naive UTC
    action: str
    text: str

    @property
    def when(self) -> str:
        return local_time(self.at)


def _describe(row: AuditLog) -> str:
    template = ACTIONS.get(row.action, FALLBACK)
    return str(template) % {"actor": row.actor_name, "reason": row.reason or "—", "action": row.action}


def case_timeline(session: Session, business_key: str, workflow_id: Optional[str] = None) -> list[Entry]:
    """Audit rows of the case, oldest first; with `workflow_id`, the review rounds woven in.

    Times are kept to the second, so a round's opening is placed after the row that caused it
    (the submission, or the resubmission before it) rather than by its time alone.
    """
    rows = list(session.scalars(select(AuditLog).where(AuditLog.business_key == business_key)
                                .order_by(AuditLog.created_at, AuditLog.id)))
    keyed = [((i, 0), Entry(row.created_at, row.action, _describe(row))) for i, row in enumerate(rows)]
    if workflow_id is not None:
        causes = [i for i, row in enumerate(rows) if row.action in ("registration.submit", "registration.resubmit")]

        def after_time(moment: datetime) -> tuple[int, int]:
            return sum(1 for row in rows if row.created_at <= moment) - 1, 2

        # review rounds only: a bank statement conflict's task is told by its own audit row
        for task in session.scalars(select(HumanTask).where(HumanTask.workflow_id == workflow_id,
                                                            HumanTask.kind != "bank_statement_conflict")):
            key = (causes[task.round - 1], 1) if task.round <= len(causes) else after_time(task.created_at)
            keyed.append((key, Entry(task.created_at, "task.open", str(ROUND_OPENED) % {
                "round": task.round, "due": local_time(task.due_at)})))
            if task.finished_at is not None and task.outcome not in DECISIONS_AUDITED:
                keyed.append((after_time(task.finished_at), Entry(task.finished_at, "task.close", str(ROUND_CLOSED) % {
                    "round": task.round, "outcome": outcome_label(task.outcome) or task.status})))
    keyed.sort(key=lambda pair: pair[0])
    return [entry for _key, entry in keyed]
