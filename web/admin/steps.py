"""Where a process is and whom it waits for, in business words, for every process type (ADM-1).

Each function reads its type's `status` query view (workflows/*.py); `names` maps account ids to
display names. A view of None (the process has ended, or no worker answered) gives "".
"""
from __future__ import annotations

from typing import Any, Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..i18n import application_status

WAGE_STEPS = {
    "wage_table": _l("Wage table"),
    "signed_sheet": _l("Signed sheet"),
    "bank_file": _l("Bank file"),
    "reconcile": _l("Reconciliation"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}

EXIT_STEPS = {
    "checking": _l("Checking the wages owed"),
    "waiting": _l("Waiting until the wages owed are paid"),
    "finishing": _l("Recording the exit"),
    "exited": _l("Exited"),
    "cancelling": _l("Withdrawing the exit"),
    "cancelled": _l("Cancelled"),
}

BINDING_STEPS = {
    "validating": _l("The bank validates the account"),
    "awaiting_agreement": _l("Waiting for the agreement"),
    "bound": _l("Bound"),
    "refused": _l("Refused by the bank"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
}


def _label(table: dict, code: str) -> str:
    value = table.get(code)
    return str(value) if value is not None else code


def _registration(view, names: dict[int, str]) -> tuple[str, str]:
    waiting = view.waiting_on or ""
    if waiting.startswith("reviewer:"):
        who = _("reviewer %(name)s", name=names.get(view.claimant_id, waiting.split(":", 1)[1]))
    elif waiting == "queue":
        who = _("the reviewers' queue")
    elif waiting == "applicant":
        who = _("the applicant's correction")
    else:
        who = waiting
    return application_status(view.status), who


def _wage_run(view, names: dict[int, str]) -> tuple[str, str]:
    step = _label(WAGE_STEPS, view.step)
    if getattr(view, "cancelling", False):
        return step, _("the cancellation to finish")
    if view.step == "wage_table":
        return step, _("a payroll specialist of the project: upload the wage table")
    if view.step == "signed_sheet":
        return step, _("a payroll specialist of the project: upload the sheet signed by the workers")
    if view.step == "bank_file":
        if getattr(view, "maker_checker", True) and view.table_uploaded_by:
            return step, _("a payroll specialist other than %(name)s: submit the bank file",
                           name=names.get(view.table_uploaded_by, str(view.table_uploaded_by)))
        return step, _("a payroll specialist of the project: submit the bank file")
    if view.step == "reconcile":
        if getattr(view, "money_in_flight", False):
            return step, _("the bank: its statement of the submitted batch")
        if view.reconcile is not None and view.reconcile.failed_lines:
            return step, _("a payroll specialist of the project: re-issue or settle %(n)s failed line(s)",
                           n=view.reconcile.failed_lines)
    return step, ""


def _worker_exit(view, names: dict[int, str]) -> tuple[str, str]:
    step = _label(EXIT_STEPS, view.state)
    if view.state == "waiting":
        months = ", ".join(view.months_without_run) or "-"
        return step, _("the payroll specialists: %(lines)s unpaid line(s), months without a wage run: %(months)s",
                       lines=view.unpaid_lines, months=months)
    if view.state in ("checking", "finishing", "cancelling"):
        return step, _("the system")
    return step, ""


def _binding(view, names: dict[int, str]) -> tuple[str, str]:
    step = _label(BINDING_STEPS, view.status)
    if view.status == "validating":
        return step, _("the bank: validation of the account")
    if view.status == "awaiting_agreement":
        return step, _("a payroll specialist of the project: accept the agreement")
    return step, ""


DESCRIBE: dict[str, Callable[[Any, dict[int, str]], tuple[str, str]]] = {
    "ProjectRegistrationWorkflow": _registration,
    "WageRunWorkflow": _wage_run,
    "WorkerExitWorkflow": _worker_exit,
    "WageAccountBindingWorkflow": _binding,
}


def step_and_waiting(workflow_type: str, view, names: dict[int, str]) -> tuple[str, str]:
    describe = DESCRIBE.get(workflow_type)
    if view is None or describe is None:
        return "", ""
    return describe(view, names)


def account_ids(view) -> list:
    """The account ids a view names (for `names`)."""
    return [getattr(view, "claimant_id", None), getattr(view, "table_uploaded_by", None)]
