"""Payroll specialist: the project's monthly wage runs and their four signed steps (PAY-3, PAY-4).

Thin views: the domain signs (security password → Ed25519 step document), the process
(WageRunWorkflow) decides. Scope: the specialist's own project; another project's run is a 404.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import signing
from domain.models import Account, Project, Role, WageRun
from domain.money import format_yuan
from domain.wage_run import WageRunError, maker_checker_required, open_run
from domain.processes.wage_run import WageLineStatus, WageRunInput, WageRunStatus
from workflows.wage_run import WageRunWorkflow

from ..core import bridge, call_process, remote_addr, services
from .. import i18n
from ..refusals import PAYROLL_REFUSALS, RUN_ERRORS, refusal_message
from ..scoping import get_or_404
from ..security import require_roles
from .forms import ChangeSecurityPasswordForm, OpenRunForm, ReissueForm, SetSecurityPasswordForm

log = logging.getLogger("shiming.web.payroll")
bp = Blueprint("payroll", __name__, url_prefix="/payroll", template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LINE_FILTERS = ("all", WageLineStatus.PAID, WageLineStatus.FAILED, WageLineStatus.SETTLED)

# status and step labels have their own tables and msgids in web/i18n.py




def security_password_message(exc: signing.SecurityPasswordError) -> str:
    if exc.code == "wrong":
        if exc.remaining_attempts is not None:
            return _("Wrong security password. %(count)s attempt(s) left before it is locked.",
                     count=exc.remaining_attempts)
        return _("Wrong security password.")
    if exc.code == "locked":
        return _("The security password is locked after too many wrong attempts. Please try again later.")
    if exc.code == "not_set":
        return _("Set your security password first.")
    if exc.code == "weak":
        return _("The security password needs at least 8 characters with letters and digits.")
    if exc.code == "same_as_login":
        return _("The security password must differ from the login password.")
    if exc.code == "already_set":
        return _("The security password is already set: change it with the current one.")
    return _("The security password was refused.")


def _refusal(code: str) -> str:
    return refusal_message(code, PAYROLL_REFUSALS)


@bp.before_request
def guard():
    return require_roles(Role.PAYROLL_SPECIALIST)


def _run_in_scope(db, run_id: int) -> WageRun:
    """The run, if in the specialist's scope (domain/scope.py); else 404, audited."""
    return get_or_404(db, WageRun, run_id)


def _has_key(db) -> bool:
    return signing.current_key(db, current_user.id) is not None


# ---- list and open -------------------------------------------------------------------------------


@bp.route("/")
def home():
    return _render_home(OpenRunForm(formdata=None))


def _render_home(form: OpenRunForm, status: int = 200):
    with services().Session() as db:
        project = db.get(Project, current_user.project_id) if current_user.project_id else None
        runs = []
        if project is not None:
            runs = list(db.scalars(select(WageRun).where(WageRun.project_id == project.id)
                                   .order_by(WageRun.month.desc(), WageRun.id.desc())))
        rows = [{"id": r.id, "month": r.month, "step": r.step, "step_label": i18n.step_label(r.step),
                 "status": r.status, "status_label": i18n.run_status(r.status),
                 "line_count": r.line_count, "total": format_yuan(r.total_fen or 0)} for r in runs]
        has_key = _has_key(db)
        project_name = project.name if project else ""
    return render_template("payroll/home.html", rows=rows, form=form, project_name=project_name,
                           has_key=has_key), status


@bp.route("/open", methods=["POST"])
def open_month():
    form = OpenRunForm()
    if not form.validate_on_submit():
        return _render_home(form, 422)
    if current_user.project_id is None:
        abort(404)
    month = form.month.data.strip()
    try:
        with services().Session.begin() as db:
            run = open_run(db, current_user.project_id, month, db.get(Account, current_user.id))
            run_id, workflow_id = run.id, run.workflow_id
    except WageRunError as exc:
        flash(i18n.label(RUN_ERRORS, exc.code), "error")
        return _render_home(form, 422)
    if _start(run_id, workflow_id):
        flash(_("The wage run for %(month)s was opened.", month=month), "success")
    return redirect(url_for("payroll.run", run_id=run_id))


def _start(run_id: int, workflow_id: str) -> bool:
    """Start the run's process; one already running under that id counts as started."""
    queue = bridge().task_queue
    with services().Session() as db:
        inp = WageRunInput(run_id, maker_checker=maker_checker_required(db, db.get(WageRun, run_id).project_id))

    async def start(client):
        try:
            await client.start_workflow(WageRunWorkflow.run, inp, id=workflow_id, task_queue=queue)
        except WorkflowAlreadyStartedError:
            pass

    ok, _r, _code = call_process(lambda: bridge().run(start), PAYROLL_REFUSALS)
    return ok


@bp.route("/run/<int:run_id>/start", methods=["POST"])
def start_process(run_id: int):
    """Start the process again when opening the run stored it but could not reach the engine."""
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        workflow_id, status = run.workflow_id, run.status
    if ReissueForm().validate_on_submit() and status == WageRunStatus.OPEN and _start(run_id, workflow_id):
        flash(_("The process of the wage run was started."), "success")
    return redirect(url_for("payroll.run", run_id=run_id))


# ---- security password ---------------------------------------------------------------------------


@bp.route("/security-password", methods=["GET", "POST"])
def security_password():
    with services().Session() as db:
        has_key = _has_key(db)
    form = ChangeSecurityPasswordForm() if has_key else SetSecurityPasswordForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                with services().Session.begin() as db:
                    login_hash = db.get(Account, current_user.id).password_hash
                    signing.set_security_password(
                        db, current_user.id, form.new_password.data,
                        form.current_password.data if has_key else None,
                        login_password_hash=login_hash, remote_addr=remote_addr())
            except signing.SecurityPasswordError as exc:
                flash(security_password_message(exc), "error")
                status = 422
            else:
                flash(_("Your security password was changed.") if has_key
                      else _("Your security password was set."), "success")
                return redirect(url_for("payroll.home"))
        else:
            status = 422
    return render_template("payroll/security_password.html", form=form, has_key=has_key), status


# ---- one run -------------------------------------------------------------------------------------


def _query_status(workflow_id: str):
    try:
        return bridge().run(lambda c: c.get_workflow_handle(workflow_id).query(WageRunWorkflow.status), timeout=10)
    except Exception:  # noqa: BLE001 - the page still shows the database's view
        log.info("wage run %s: status query failed", workflow_id, exc_info=True)
        return None
