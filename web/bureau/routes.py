from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from domain.models import (
    Account,
    District,
    HumanTask,
    RegistrationApplication,
    Role,
    TaskStatus,
    utcnow,
)
from domain import accounts, audit
from domain.money import format_yuan
from domain.registration import open_tasks
from domain.rules import mask_phone
from domain.calendar import LOCAL_TZ
from domain.processes.registration import ClaimInput, Decision, DecideInput
from workflows.registration import ProjectRegistrationWorkflow

from ..core import bridge, call_process, remote_addr, send_bytes, services
from ..formutil import choices
from ..i18n import application_status, outcome_label, task_status
from ..public.routes import docx_response
from ..scoping import get_or_404
from ..security import SCAN_CSP, require_roles
from ..timeline import case_timeline
from .forms import ApproveForm, InboxFilterForm, ReasonForm, TaskActionForm

bp = Blueprint("bureau", __name__, url_prefix="/bureau", template_folder="templates")

VIEWS = ("queue", "mine", "done")
ACTIONS = ("claim", "unclaim", "approve", "reject", "return")
DECISIONS = {"approve": Decision.APPROVE, "reject": Decision.REJECT, "return": Decision.RETURN}
INBOX_LIMIT = 200


@bp.before_request
def guard():
    return require_roles(*Role.BUREAU)


def _local_day_bounds_utc(now_utc: datetime) -> tuple[datetime, datetime]:
    local_day = now_utc.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).date()
    start = datetime.combine(local_day, time.min, tzinfo=LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
    return start, start + timedelta(days=1)


@bp.route("/inbox")
def inbox():
    view = request.args.get("view", "queue")
    if view not in VIEWS:
        view = "queue"
    district_id = current_user.district_id
    form = InboxFilterForm(formdata=request.args)
    with services().Session() as db:
        district = db.get(District, district_id) if district_id else None
        form.district.choices = choices([(str(district.id), district.name)] if district else [])
        form.status.choices = choices([("", _("All"))] + [(s, task_status(s)) for s in (
            TaskStatus.NEW, TaskStatus.ASSIGNED, TaskStatus.DONE, TaskStatus.CANCELED, TaskStatus.ERROR)])
        wanted_district = request.args.get("district", "")
        if wanted_district and (district is None or wanted_district != str(district.id)):
            abort(404)  # only the own district for now; another one does not exist for this account
        tasks = []
        if district is not None:
            tasks = _inbox_tasks(db, view, district.id, request.args.get("status", ""), request.args.get("due", "all"))
        owners = {a.id: a.display_name for a in db.scalars(
            select(Account).where(Account.id.in_({t.owner_id for t in tasks if t.owner_id})))}
        rows = [_row(t, owners) for t in tasks]
    return render_template("bureau/inbox.html", view=view, rows=rows, form=form,
                           district=district.name if district else "")


def _inbox_tasks(db, view: str, district_id: int, status: str, due: str) -> list[HumanTask]:
    q = select(HumanTask).where(HumanTask.district_id == district_id)
    if view == "queue":
        q = q.where(HumanTask.status == TaskStatus.NEW)
        order = (HumanTask.escalated_at.is_(None), HumanTask.due_at, HumanTask.id)
    elif view == "mine":
        q = q.where(HumanTask.status == TaskStatus.ASSIGNED, HumanTask.owner_id == current_user.id)
        order = (HumanTask.due_at, HumanTask.id)
    else:
        q = q.where(HumanTask.status.in_((TaskStatus.DONE, TaskStatus.CANCELED)))
        order = (HumanTask.finished_at.desc(), HumanTask.id.desc())
    if status:
        q = q.where(HumanTask.status == status)
    now = utcnow()
    if due == "overdue":
        q = q.where(HumanTask.due_at < now, HumanTask.status.in_(TaskStatus.OPEN))
    elif due == "today":
        start, end = _local_day_bounds_utc(now)
        q = q.where(HumanTask.due_at >= start, HumanTask.due_at < end)
    return list(db.scalars(q.order_by(*order).limit(INBOX_LIMIT)))


def _row(task: HumanTask, owners: dict[int, str]) -> dict:
    now = utcnow()
    return {
        "id": task.id,
        "number": task.business_key,
        "title": task.title,
        "round": task.round,
        "status": task.status,
        "status_label": task_status(task.status),
        "owner": owners.get(task.owner_id, ""),
        "created_at": task.created_at,
        "due_at": task.due_at,
        "finished_at": task.finished_at,
        "outcome": outcome_label(task.outcome),
        "overdue": task.status in TaskStatus.OPEN and task.due_at is not None and task.due_at < now,
        "escalated": task.escalated_at is not None,
    }


def _task_in_scope(db, task_id: int) -> HumanTask:
    """The task, if in the reviewer's district (the scoping rule, domain/scope.py); else 404, audited."""
    return get_or_404(db, HumanTask, task_id)


def _application(db, task: HumanTask) -> RegistrationApplication:
    app = db.scalar(select(RegistrationApplication).where(RegistrationApplication.number == task.business_key))
    if app is None:
        abort(404)
    return app


def _render_task(task_id: int, forms: dict | None = None, status: int = 200):
    forms = forms or {}
    with services().Session() as db:
        task = _task_in_scope(db, task_id)
        app = _application(db, task)
        phone = mask_phone(services().cipher.decrypt(app.contact_phone_enc, "phone"))
        owner = db.get(Account, task.owner_id).display_name if task.owner_id else ""
        current = [t for t in open_tasks(db, task.workflow_id) if t.id != task.id]
        context = dict(
            task=task, app=app, phone=phone, owner=owner, district=app.district.name,
            scan=app.scan_file, contract_value=format_yuan(app.contract_value_fen),
            status_label=application_status(app.status), task_status_label=task_status(task.status),
            outcome=outcome_label(task.outcome), timeline=case_timeline(db, app.number),
            newer_task=current[0] if current else None,
            overdue=task.status in TaskStatus.OPEN and task.due_at is not None and task.due_at < utcnow(),
        )
    me = current_user.id
    context.update(
        can_claim=task.status == TaskStatus.NEW,
        is_mine=task.status == TaskStatus.ASSIGNED and task.owner_id == me,
        claim_form=forms.get("claim") or TaskActionForm(formdata=None, task_id=task.id),
        approve_form=forms.get("approve") or ApproveForm(formdata=None, task_id=task.id),
        reject_form=forms.get("reject") or ReasonForm(formdata=None, task_id=task.id),
        return_form=forms.get("return") or ReasonForm(formdata=None, task_id=task.id),
    )
    return render_template("bureau/task.html", **context), status


@bp.route("/task/<int:task_id>")
def task(task_id: int):
    return _render_task(task_id)


@bp.route("/task/<int:task_id>/scan")
def scan(task_id: int):
    with services().Session() as db:
        app = _application(db, _task_in_scope(db, task_id))
        stored = app.scan_file
        if stored is None:
            abort(404)
        data = services().blobs.get(stored.sha256)
        content_type, name = stored.content_type, stored.display_name
    return send_bytes(data, name, content_type, inline=True, csp=SCAN_CSP)


@bp.route("/task/<int:task_id>/application.docx")
def application_docx(task_id: int):
    with services().Session() as db:
        app = _application(db, _task_in_scope(db, task_id))
        return docx_response(app, app.district.name)


def _form_for(action: str):
    if action in ("claim", "unclaim"):
        return TaskActionForm()
    if action == "approve":
        return ApproveForm()
    return ReasonForm()


def _done_message(action: str) -> str:
    if action == "claim":
        return _("You claimed the case.")
    if action == "unclaim":
        return _("You released the case.")
    if action == "approve":
        return _("The application was approved.")
    if action == "reject":
        return _("The application was rejected.")
    return _("The application was returned for correction.")


@bp.route("/task/<int:task_id>/<any(claim, unclaim, approve, reject, return):action>", methods=["POST"])
def act(task_id: int, action: str):
    with services().Session() as db:
        task = _task_in_scope(db, task_id)
        workflow_id = task.workflow_id
        app = _application(db, task)
        conflict = accounts.conflict_of_interest(db, db.get(Account, current_user.id), app.builder_credit_code,
                                                 app.contractor_credit_code)
    if conflict and action != "unclaim":
        with services().Session.begin() as db:
            audit.record(db, actor_id=current_user.id, actor_name=current_user.display_name,
                         action="registration.conflict_of_interest", target_type="human_task", target_id=task_id,
                         business_key=app.number, remote_addr=remote_addr())
        flash(_("You cannot decide on a project of your own enterprise."), "error")
        return redirect(url_for("bureau.task", task_id=task_id))
    form = _form_for(action)
    if not form.validate_on_submit():
        if "reason" in form and form.reason.errors:
            flash(str(form.reason.errors[0]), "error")
            return _render_task(task_id, {action: form}, status=422)
        flash(_("The case has changed since this page was opened. Please look at it again."), "error")
        return redirect(url_for("bureau.task", task_id=task_id))
    if form.task_id.data != task_id:
        flash(_("The case has changed since this page was opened. Please look at it again."), "error")
        return redirect(url_for("bureau.task", task_id=task_id))
    me = current_user.id
    if action in ("claim", "unclaim"):
        update = ProjectRegistrationWorkflow.claim if action == "claim" else ProjectRegistrationWorkflow.unclaim
        arg = ClaimInput(me, form.task_id.data)
    else:
        update = ProjectRegistrationWorkflow.decide
        arg = DecideInput(me, form.task_id.data, DECISIONS[action], (form.reason.data or "").strip())
    ok, _result, _code = call_process(lambda: bridge().update(workflow_id, update, arg))
    if not ok:
        return redirect(url_for("bureau.task", task_id=task_id))
    flash(_done_message(action), "success")
    if action in ("claim", "unclaim"):
        return redirect(url_for("bureau.task", task_id=task_id))
    return redirect(url_for("bureau.inbox", view="done"))
