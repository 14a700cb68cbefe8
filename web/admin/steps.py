"""Where a process is and whom it waits for, in business words, for every process type (ADM-1).

Each function reads its type's `status` query view (workflows/*.py); `names` maps account ids to
display names. A view of None (the process has ended) gives "". When no worker answers the query,
`view_from_db` builds the same view from the facts the process owns.
"""
from __future__ import annotations

from typing import Any, Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from domain.wage_run import reconcile_state
from domain import worker_exit as wx
from domain import enrolment as enr
from domain.models import Enrolment, HumanTask, ProjectWorker, RegistrationApplication, TaskStatus, WageRun
from domain.wage_run import maker_checker_required, money_in_flight
from domain.processes.account_binding import BindingStatus
from domain.processes.attendance_correction import CorrectionStatus
from domain.processes.enrolment import EnrolmentState, EnrolmentStatusView, Waiting as EnrolmentWaiting
from domain.processes.enrolment import waiting_for_documents
from domain.processes.registration import (
    REVIEWER_PREFIX,
    RegistrationStatus,
    RegistrationStatusView,
    Waiting,
    waiting_on,
)
from domain.processes.worker_exit import EngagementStatus, ExitState, WorkerExitStatus
from domain.processes.wage_run import Step, WageRunStatusView

from ..i18n import application_status, label, step_label

EXIT_STEPS = {
    ExitState.CHECKING: _l("Checking the wages owed"),
    ExitState.WAITING: _l("Waiting until the wages owed are paid"),
    ExitState.FINISHING: _l("Recording the exit"),
    ExitState.EXITED: _l("Exited"),
    ExitState.CANCELLING: _l("Withdrawing the exit"),
    ExitState.CANCELLED: _l("Cancelled"),
}

BINDING_STEPS = {
    BindingStatus.VALIDATING: _l("The bank validates the account"),
    BindingStatus.AWAITING_AGREEMENT: _l("Waiting for the agreement"),
    BindingStatus.BOUND: _l("Bound"),
    BindingStatus.REFUSED: _l("Refused by the bank"),
    BindingStatus.EXPIRED: _l("Expired"),
    BindingStatus.CANCELLED: _l("Cancelled"),
}

ENROLMENT_STEPS = {
    EnrolmentState.CHECKING: _l("Checking for a duplicate enrolment"),
    EnrolmentState.DUPLICATE_REVIEW: _l("Active on another project: decision needed"),
    EnrolmentState.CREATING: _l("Creating the worker, the app account and the contract"),
    EnrolmentState.AWAITING_DOCUMENTS: _l("Enrolled, not admitted"),
    EnrolmentState.ADMITTED: _l("Admitted to the site"),
    EnrolmentState.CANCELLED: _l("Cancelled"),
}

ENROLMENT_WAITING = {
    EnrolmentWaiting.SPECIALIST_DUPLICATE: _l("the labour specialist: continue or cancel the duplicate enrolment"),
    EnrolmentWaiting.CONTRACT_SCAN: _l("the labour specialist: upload the signed labour contract"),
    EnrolmentWaiting.TRAINING: _l("the labour specialist: record the safety training"),
    EnrolmentWaiting.CONTRACT_AND_TRAINING: _l(
        "the labour specialist: upload the signed labour contract and record the safety training"),
    EnrolmentWaiting.SYSTEM: _l("the system"),
}


def _registration(view, names: dict[int, str]) -> tuple[str, str]:
    waiting = view.waiting_on or ""
    if waiting.startswith(REVIEWER_PREFIX):
        who = _("reviewer %(name)s", name=names.get(view.claimant_id, waiting.split(":", 1)[1]))
    elif waiting == Waiting.QUEUE:
        who = _("the reviewers' queue")
    elif waiting == Waiting.APPLICANT:
        who = _("the applicant's correction")
    else:
        who = waiting
    return application_status(view.status), who


def _wage_run(view, names: dict[int, str]) -> tuple[str, str]:
    step = step_label(view.step)
    if getattr(view, "cancelling", False):
        return step, _("the cancellation to finish")
    if view.step == Step.WAGE_TABLE:
        return step, _("a payroll specialist of the project: upload the wage table")
    if view.step == Step.SIGNED_SHEET:
        return step, _("a payroll specialist of the project: upload the sheet signed by the workers")
    if view.step == Step.WAGE_FILE:
        if getattr(view, "maker_checker", True) and view.table_uploaded_by:
            return step, _("a payroll specialist other than %(name)s: submit the wage file",
                           name=names.get(view.table_uploaded_by, str(view.table_uploaded_by)))
        return step, _("a payroll specialist of the project: submit the wage file")
    if view.step == Step.RECONCILE:
        if getattr(view, "money_in_flight", False):
            return step, _("the bank: its statement of the submitted batch")
        if view.reconcile is not None and view.reconcile.failed_lines:
            return step, _("a payroll specialist of the project: re-issue or settle %(n)s failed line(s)",
                           n=view.reconcile.failed_lines)
    return step, ""


def _worker_exit(view, names: dict[int, str]) -> tuple[str, str]:
    step = label(EXIT_STEPS, view.state)
    if view.state == ExitState.WAITING:
        months = ", ".join(view.months_without_run) or "-"
        return step, _("the payroll specialists: %(lines)s unpaid line(s), months without a wage run: %(months)s",
                       lines=view.unpaid_lines, months=months)
    if view.state in (ExitState.CHECKING, ExitState.FINISHING, ExitState.CANCELLING):
        return step, _("the system")
    return step, ""


def _binding(view, names: dict[int, str]) -> tuple[str, str]:
    step = label(BINDING_STEPS, view.status)
    if view.status == BindingStatus.VALIDATING:
        return step, _("the bank: validation of the account")
    if view.status == BindingStatus.AWAITING_AGREEMENT:
        return step, _("a payroll specialist of the project: accept the agreement")
    return step, ""


def _enrolment(view, names: dict[int, str]) -> tuple[str, str]:
    waiting = ENROLMENT_WAITING.get(view.waiting_on)
    return label(ENROLMENT_STEPS, view.state), str(waiting) if waiting is not None else ""


def _correction(view, names: dict[int, str]) -> tuple[str, str]:
    if view.status == CorrectionStatus.PENDING:
        return str(_l("Waiting for approval")), _("another project account of the project: approve or refuse")
    return "", ""


DESCRIBE: dict[str, Callable[[Any, dict[int, str]], tuple[str, str]]] = {
    "ProjectRegistrationWorkflow": _registration,
    "WageRunWorkflow": _wage_run,
    "WorkerExitWorkflow": _worker_exit,
    "WageAccountBindingWorkflow": _binding,
    "EnrolmentWorkflow": _enrolment,
    "AttendanceCorrectionWorkflow": _correction,
}


def step_and_waiting(workflow_type: str, view, names: dict[int, str]) -> tuple[str, str]:
    describe = DESCRIBE.get(workflow_type)
    if view is None or describe is None:
        return "", ""
    return describe(view, names)


def account_ids(view) -> list:
    """The account ids a view names (for `names`)."""
    return [getattr(view, "claimant_id", None), getattr(view, "table_uploaded_by", None)]


def view_from_db(db, workflow_type: str, workflow_id: str):
    """The database's view of a running process whose `status` query did not answer (no worker):
    built from the facts it owns, in the shape of its type's status view; None when unknown."""
    if workflow_type == "ProjectRegistrationWorkflow":
        app = db.scalar(select(RegistrationApplication).where(RegistrationApplication.workflow_id == workflow_id))
        if app is None:
            return None
        task = db.scalar(select(HumanTask).where(HumanTask.workflow_id == workflow_id,
                                                 HumanTask.status.in_(TaskStatus.OPEN))
                         .order_by(HumanTask.round.desc()).limit(1))
        if app.status == RegistrationStatus.RETURNED:
            waiting = waiting_on(app.status, None)
        elif task is not None:  # the open round's task: its reviewer, or the queue
            waiting = waiting_on(RegistrationStatus.IN_REVIEW, task.owner_id)
        else:
            waiting = Waiting.NOBODY
        return RegistrationStatusView(app.status, task.round if task else 0, app.revision,
                                      task.id if task else None, task.owner_id if task else None,
                                      bool(task and task.reminded_at), bool(task and task.escalated_at), waiting)
    if workflow_type == "WageRunWorkflow":
        run = db.scalar(select(WageRun).where(WageRun.workflow_id == workflow_id))
        if run is None:
            return None
        return WageRunStatusView(run.step, run.table_uploaded_by, None,
                             reconcile_state(db, run.id) if run.step == Step.RECONCILE else None, [],
                             maker_checker_required(db, run.project_id), money_in_flight(db, run.id),
                             False)
    if workflow_type == "WorkerExitWorkflow":
        pw = db.scalar(select(ProjectWorker).where(ProjectWorker.exit_workflow_id == workflow_id))
        if pw is None or pw.status != EngagementStatus.EXITING:
            return None
        found = wx.outstanding(db, pw)
        return WorkerExitStatus(ExitState.CHECKING if found.clear else ExitState.WAITING, len(found.lines), found.unpaid_fen,
                                list(found.months_without_run))
    if workflow_type == "EnrolmentWorkflow":
        row = db.scalar(select(Enrolment).where(Enrolment.workflow_id == workflow_id))
        if row is None:
            return None
        contract, training = row.contract_scan_file_id is not None, enr.training_of(db, row) is not None
        waiting = {EnrolmentState.DUPLICATE_REVIEW: EnrolmentWaiting.SPECIALIST_DUPLICATE,
                   EnrolmentState.AWAITING_DOCUMENTS: waiting_for_documents(contract, training)}.get(
                       row.state, EnrolmentWaiting.SYSTEM)
        return EnrolmentStatusView(row.state, row.id, None, contract, training, waiting)
    return None  # a binding's database row cannot tell validation from the wait for the agreement
