"""A case's history in business words: "2026-11-25 10:00 李审核 claimed the case"."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import AuditLog, HumanTask
from domain.processes.registration import Decision
from domain.money import format_yuan

from .i18n import local_time, outcome_label, step_label

# Every audit action a process writes, in business words (issue 8 point 7): the timeline never
# shows a raw action code or a machine's name. tests/web/test_timeline.py checks that every action
# written anywhere in the code has its words here.
ACTIONS = {
    # project registration
    "registration.create": _l("%(actor)s filled in the application form"),
    "registration.upload_scan": _l("%(actor)s uploaded the stamped scan"),
    "registration.submit": _l("The application entered review"),
    "registration.correction_saved": _l("%(actor)s saved a correction"),
    "registration.resubmit": _l("%(actor)s resubmitted the corrected application"),
    "registration.conflict_of_interest": _l("%(actor)s was refused the case: it is a project of their own enterprise"),
    "task.claim": _l("%(actor)s claimed the case"),
    "task.unclaim": _l("%(actor)s released the case"),
    "task.remind": _l("The review is overdue: a reminder was sent"),
    "task.escalate": _l("The review is far overdue: it was escalated to the section chief"),
    "registration.approve": _l("%(actor)s approved the application"),
    "registration.reject": _l("%(actor)s rejected the application: %(reason)s"),
    "registration.return_for_correction": _l("%(actor)s returned it for correction: %(reason)s"),
    # administrator
    "admin.cancel": _l("%(actor)s cancelled the process: %(reason)s"),
    "admin.retry": _l("%(actor)s retried the process: %(reason)s"),
    # wage account binding
    "wage_account.start": _l("%(actor)s asked the bank to bind the wage account %(account)s"),
    "wage_account.refused": _l("The bank refused the wage account: %(reason)s"),
    "wage_account.expired": _l("The binding ended: %(reason)s"),
    "wage_account.bound": _l("%(actor)s accepted the agreement: the wage account is bound"),
    # wage run
    "wage_run.open": _l("%(actor)s opened the wage run"),
    "wage_run.wage_table": _l("%(actor)s uploaded the wage table: %(lines)s line(s), %(total)s yuan"),
    "wage_run.signed_sheet": _l("%(actor)s uploaded the sheet signed by the workers"),
    "wage_run.bank_file": _l("%(actor)s sent the wage file to the bank: %(lines)s line(s), %(total)s yuan"),
    "wage_run.settle_line": _l("%(actor)s marked a failed line as settled otherwise: %(reason)s"),
    "wage_step.signed": _l("%(actor)s signed the step “%(step)s” with the security password"),
    "bank_statement.received": _l("The bank's statement arrived: %(lines)s line(s) answered"),
    "bank_statement.refused": _l("A statement said to come from the bank was refused: %(reason)s"),
    # worker exit
    "worker.exit_request": _l("%(actor)s asked for the worker's exit: %(reason)s"),
    "worker.exit_cancel": _l("%(actor)s withdrew the exit: %(reason)s"),
    "worker.exit": _l("The worker's exit was recorded (exit date %(exit_date)s)"),
    "site_access.revoke": _l("The worker's site access was revoked"),
    "site_access.revocation_applied": _l("Every ZKTeco terminal of the project has deleted the worker"),
    "worker.card_replace": _l("%(actor)s replaced a worker's payroll card"),
    "wage_run.cancel": _l("The wage run was cancelled; its unpaid lines will not be paid: %(reason)s"),
    "wage_account.cancelled": _l("The binding of the wage account was cancelled: %(reason)s"),
}
FALLBACK = _l("%(actor)s made a change to the case")
# a decision whose words have no place for its reason still shows the reason
WITH_REASON = _l("%(text)s — reason: %(reason)s")
# why a statement said to come from the bank was refused (bank_connectors StatementError codes)
STATEMENT_REFUSALS = {
    "bad_signature": _l("the bank's signature does not verify"),
    "malformed": _l("the statement is not in the agreed format"),
    "unknown_batch": _l("it answers no wage file the platform sent"),
    "unknown batch": _l("it answers no wage file the platform sent"),
    "incomplete": _l("it does not account for every line of the wage file exactly once"),
}
STATEMENT_REFUSED_OTHER = _l("the statement could not be accepted")
# actors that are not people: audit rows name them "system" and "bank (<channel>)"
PLATFORM = _l("The platform")
BANK = _l("The bank")
ROUND_OPENED = _l("Review round %(round)s opened, due %(due)s")
ROUND_CLOSED = _l("Review round %(round)s closed: %(outcome)s")
# decisions that have their own audit row: the closing of their round adds nothing
DECISIONS_AUDITED = Decision.ALL
# bank statements a person must know about (docs/bank-protocol.md §5, §7)
ACTIONS.update({
    "bank_statement.conflict": _l("A second, different bank statement arrived for a wage file; it was not applied "
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


def actor_label(row: AuditLog) -> str:
    """Who acted, as a person reads it: a name, the platform or the bank (never "bank (callback)")."""
    name = row.actor_name or ""
    if row.actor_id is None and (name == "bank" or name.startswith("bank (")):
        return str(BANK)
    if row.actor_id is None and name in ("system", ""):
        return str(PLATFORM)
    return name


def _reason(row: AuditLog) -> str:
    """The reason of a decision; the bank's refusal of an account in the reader's words."""
    if not row.reason:
        return "—"
    if row.action in ("wage_account.refused", "wage_account.expired"):
        from .payroll.accounts import refusal_text  # the bank's account codes have their words there

        return refusal_text(row.reason)
    if row.action.startswith("bank_statement."):  # "code: technical detail" -> the code's words
        code = row.reason.split(":", 1)[0].strip()
        return str(STATEMENT_REFUSALS.get(code, STATEMENT_REFUSED_OTHER))
    return row.reason


def _describe(row: AuditLog) -> str:
    template = ACTIONS.get(row.action, FALLBACK)
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    values = {"actor": actor_label(row), "reason": _reason(row),
              "lines": detail.get("lines", "—"),
              "total": format_yuan(detail["total_fen"]) if isinstance(detail.get("total_fen"), int) else "—",
              "step": step_label(detail.get("step")) or "—",
              "account": detail.get("account", ""),
              "exit_date": detail.get("exit_date", "—")}
    text = str(template) % values
    if row.reason and "%(reason)s" not in template._args[0]:
        text = str(WITH_REASON) % {"text": text, "reason": values["reason"]}
    return text


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
