from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from domain import audit
from domain.models import (
    Account,
    HumanTask,
    ProjectWorker,
    RegistrationApplication,
    Role,
    TaskStatus,
    WageAccount,
    WageRun,
)
from domain.processes.account_binding import AccountStatus
from domain.processes.worker_exit import EngagementStatus
from domain.processes.wage_run import WageRunStatus
from domain.wage_run import cancel_reason

from ..core import bridge, call_process, remote_addr, services
from ..i18n import application_status, run_status, task_status, workflow_status, workflow_type
from ..security import require_roles
from ..timeline import case_timeline
from .engine import STATUS_FILTERS, cancel_process, describe_process, list_processes, retry_process
from .forms import ReasonForm
from .steps import account_ids, step_and_waiting, view_from_db

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

ENGINE_TIMEOUT = 20
# visibility filter value → WorkflowExecutionStatus name
FILTER_STATUS = {"Running": "RUNNING", "Completed": "COMPLETED", "Failed": "FAILED", "Canceled": "CANCELED",
                 "Terminated": "TERMINATED", "TimedOut": "TIMED_OUT", "ContinuedAsNew": "CONTINUED_AS_NEW"}


@bp.before_request
def guard():
    return require_roles(Role.ADMIN)


def _names(db, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {a.id: a.display_name for a in db.scalars(select(Account).where(Account.id.in_(ids)))}


ENGAGEMENT_STATUS = {EngagementStatus.ACTIVE: _l("Active"), EngagementStatus.EXITING: _l("Exit requested"),
                     EngagementStatus.EXITED: _l("Exited")}
ACCOUNT_STATUS = {AccountStatus.BINDING: _l("Being bound"), AccountStatus.BOUND: _l("Bound"),
                  AccountStatus.REFUSED: _l("Refused by the bank"), AccountStatus.UNBOUND: _l("Not bound")}


def _view_names(db, views) -> dict[int, str]:
    return _names(db, (i for v in views if v is not None for i in account_ids(v)))


def _business_status(db, workflow_id: str, app) -> tuple[str, str]:
    """(label, value) of the facts the process owns in the database, for every process type."""
    if app is not None:
        return _("Application status"), application_status(app.status)
    run = db.scalar(select(WageRun).where(WageRun.workflow_id == workflow_id))
    if run is not None:
        value = run_status(run.status)
        if run.status == WageRunStatus.CANCELLED:
            value = _("Cancelled: %(reason)s", reason=cancel_reason(db, run) or "—")
        return _("Wage run status"), value
    pw = db.scalar(select(ProjectWorker).where(ProjectWorker.exit_workflow_id == workflow_id))
    if pw is not None:
        return _("Engagement status"), str(ENGAGEMENT_STATUS.get(pw.status, pw.status))
    account = db.scalar(select(WageAccount).where(WageAccount.workflow_id == workflow_id))
    if account is not None:
        return _("Wage account status"), str(ACCOUNT_STATUS.get(account.status, account.status))
    return "", ""


@bp.route("/")
def processes():
    status = request.args.get("status", "")
    if status not in STATUS_FILTERS:
        status = ""
    ok, rows, _code = call_process(lambda: bridge().run(partial(list_processes, status=status), timeout=ENGINE_TIMEOUT))
    rows = rows or []
    with services().Session() as db:
        for r in rows:
            if r.status == "RUNNING" and r.view is None:  # no worker answered: the database's view
                r.view = view_from_db(db, r.type, r.workflow_id)
        names = _view_names(db, (r.view for r in rows))
    items = []
    for r in rows:
        step, waiting_on = step_and_waiting(r.type, r.view, names)
        items.append({
            "workflow_id": r.workflow_id,
            "type": workflow_type(r.type),
            "status": r.status,
            "status_label": workflow_status(r.status),
            "step": step,
            "waiting_on": waiting_on,
            "start_time": r.start_time,
        })
    filters = [(code, workflow_status(FILTER_STATUS[code])) for code in STATUS_FILTERS]
    return render_template("admin/processes.html", items=items, engine_ok=ok, status=status, status_filters=filters)


@bp.route("/process/<workflow_id>")
def process(workflow_id: str):
    ok, detail, _code = call_process(lambda: bridge().run(partial(describe_process, workflow_id=workflow_id),
                                                   timeout=ENGINE_TIMEOUT))
    with services().Session() as db:
        app = db.scalar(select(RegistrationApplication).where(RegistrationApplication.workflow_id == workflow_id))
        tasks = list(db.scalars(select(HumanTask).where(HumanTask.workflow_id == workflow_id)
                                .order_by(HumanTask.round)))
        if app is None and not tasks and detail is None:
            abort(404)
        business_key = app.number if app else (tasks[0].business_key if tasks else workflow_id)
        timeline = case_timeline(db, business_key, workflow_id)
        view = detail.row.view if detail else None
        if detail is not None and view is None and detail.row.status == "RUNNING":
            view = view_from_db(db, detail.row.type, workflow_id)
        names = _names(db, [t.owner_id for t in tasks] + account_ids(view))
        pending = [{
            "id": t.id, "round": t.round, "status": task_status(t.status), "owner": names.get(t.owner_id, ""),
            "due_at": t.due_at, "escalated": t.escalated_at is not None,
        } for t in tasks if t.status in TaskStatus.OPEN]
        business_label, business_status = _business_status(db, workflow_id, app)
        step, waiting_on = step_and_waiting(detail.row.type, view, names) if detail else ("", "")
    settings = services().settings
    ui_url = f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"
    return render_template(
        "admin/process.html", workflow_id=workflow_id, business_key=business_key, detail=detail, engine_ok=ok,
        status_label=workflow_status(detail.row.status) if detail else "", step=step,
        waiting_on=waiting_on, business_label=business_label, business_status=business_status,
        timeline=timeline, pending=pending,
        type_label=workflow_type(detail.row.type) if detail else "", ui_url=ui_url, cancel_form=ReasonForm(formdata=None), retry_form=ReasonForm(formdata=None),
    )


def _business_key(workflow_id: str) -> str:
    with services().Session() as db:
        number = db.scalar(select(RegistrationApplication.number)
                           .where(RegistrationApplication.workflow_id == workflow_id))
        if number is None:
            number = db.scalar(select(HumanTask.business_key).where(HumanTask.workflow_id == workflow_id).limit(1))
    return number or workflow_id


def _admin_action(workflow_id: str, action: str, run, done_message: str):
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("A reason is required."), "error")
        return redirect(url_for("admin.process", workflow_id=workflow_id))
    reason = form.reason.data.strip()
    ok, result, _code = call_process(lambda: bridge().run(partial(run, workflow_id=workflow_id, reason=reason),
                                                   timeout=ENGINE_TIMEOUT))
    if ok:
        with services().Session.begin() as db:
            audit.record(db, actor_id=current_user.id, actor_name=current_user.display_name, action=action,
                         target_type="workflow", target_id=workflow_id, business_key=_business_key(workflow_id),
                         reason=reason, detail={"new_run_id": result} if result else None,
                         remote_addr=remote_addr())
        flash(done_message, "success")
    return redirect(url_for("admin.process", workflow_id=workflow_id))


def _cancel_as(actor_id: int):
    async def cancel(client, workflow_id: str, reason: str) -> None:
        await cancel_process(client, workflow_id, reason=reason, actor_id=actor_id)
    return cancel


@bp.route("/process/<workflow_id>/cancel", methods=["POST"])
def cancel(workflow_id: str):
    return _admin_action(workflow_id, "admin.cancel", _cancel_as(current_user.id), _("Cancellation requested."))


@bp.route("/process/<workflow_id>/retry", methods=["POST"])
def retry(workflow_id: str):
    return _admin_action(workflow_id, "admin.retry", retry_process, _("The process was reset and runs again."))
