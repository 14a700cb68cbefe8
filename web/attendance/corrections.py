"""Punch corrections (补卡) on the `attendance` blueprint: the project's list, the request (project and
labour staff: domain/corrections.py REQUESTER_ROLES) and the decision (another account with the
approver's role), sent to AttendanceCorrectionWorkflow as its `decide` update; a refusal reaches the
page as its own words (web/refusals.py PUNCH_CORRECTION_REFUSALS)."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError
from wtforms import DateField, SelectField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length

from domain import corrections as dc
from domain.models import Account, Project, ProjectWorker, PunchCorrection, Worker
from domain.processes.attendance import Direction
from domain.processes.attendance_correction import (
    REASON_MAX,
    CorrectionDecideInput,
    CorrectionDecision,
    CorrectionInput,
    CorrectionStatus,
)
from workflows.attendance_correction import AttendanceCorrectionWorkflow

from ..core import bridge, call_process, remote_addr, services
from ..formutil import choices, flash_form_problem
from ..refusals import PUNCH_CORRECTION_REFUSALS, refusal_message
from ..scoping import get_or_404
from .routes import bp
from .statistics import readers_only

LIST_LIMIT = 200
STATUS_LABELS = {CorrectionStatus.PENDING: _l("Waiting for approval"), CorrectionStatus.APPROVED: _l("Approved"),
                 CorrectionStatus.REFUSED: _l("Refused"), CorrectionStatus.CANCELLED: _l("Cancelled")}
DIRECTION_LABELS = {Direction.IN: _l("In"), Direction.OUT: _l("Out")}


class CorrectionRequestForm(FlaskForm):
    worker_id = SelectField(_l("Worker"), coerce=int, validators=[InputRequired(_l("This field is required."))])
    day = DateField(_l("Day"), validators=[InputRequired(_l("Enter the day."))])
    direction = SelectField(_l("Direction"), choices=choices([(d.value, label) for d, label in DIRECTION_LABELS.items()]))
    clock = TimeField(_l("Time"), validators=[InputRequired(_l("Enter the time."))])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("A reason is required.")),
                                                      Length(max=REASON_MAX)])


class CorrectionDecisionForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Length(max=REASON_MAX)])


def _workers(db, project_id: int) -> list[tuple[int, str]]:
    return [(w, name) for w, name in db.execute(
        select(Worker.id, Worker.name).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
        .where(ProjectWorker.project_id == project_id).order_by(Worker.name, Worker.id))]


def _rows(db, project_id: int, me: Account) -> list[dict]:
    corrections = list(db.scalars(select(PunchCorrection).where(PunchCorrection.project_id == project_id)
                                  .order_by(PunchCorrection.id.desc()).limit(LIST_LIMIT)))
    names = dict(db.execute(select(Worker.id, Worker.name).where(
        Worker.id.in_({c.worker_id for c in corrections}))).all())
    people = dict(db.execute(select(Account.id, Account.display_name).where(
        Account.id.in_({c.requested_by for c in corrections} | {c.decided_by for c in corrections if c.decided_by}))).all())
    return [{
        "id": c.id, "worker": names.get(c.worker_id, ""), "day": c.day, "direction": DIRECTION_LABELS.get(c.direction, ""),
        "corrected_at": c.corrected_at, "reason": c.reason, "status": c.status,
        "status_label": STATUS_LABELS.get(c.status, c.status), "requester": people.get(c.requested_by, ""),
        "approver": people.get(c.decided_by, ""), "decision_reason": c.decision_reason or "",
        "pending": c.status == CorrectionStatus.PENDING,
        "may_decide": c.status == CorrectionStatus.PENDING and c.requested_by != me.id and dc.may_decide(db, me, c),
    } for c in corrections]


def _page(project_id: int, form: CorrectionRequestForm | None = None, status: int = 200):
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        me = db.get(Account, current_user.id)
        form = form or CorrectionRequestForm(formdata=None)
        form.worker_id.choices = choices(_workers(db, project.id))
        context = dict(project=project, rows=_rows(db, project.id, me), form=form,
                       may_request=dc.may_request(db, me, project.id), decision_form=CorrectionDecisionForm(formdata=None))
    return render_template("attendance/corrections.html", **context), status


@bp.route("/project/<int:project_id>/corrections")
@readers_only
def corrections(project_id: int):
    return _page(project_id)


def _start(correction_id: int, workflow_id: str, requester_id: int) -> bool:
    queue = bridge().task_queue

    async def start(client):
        try:
            await client.start_workflow(AttendanceCorrectionWorkflow.run, CorrectionInput(correction_id, requester_id),
                                        id=workflow_id, task_queue=queue)
        except WorkflowAlreadyStartedError:
            pass

    return call_process(lambda: bridge().run(start), PUNCH_CORRECTION_REFUSALS).ok


@bp.route("/project/<int:project_id>/corrections", methods=["POST"])
@readers_only
def request_correction(project_id: int):
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        form = CorrectionRequestForm()
        form.worker_id.choices = choices(_workers(db, project.id))
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _page(project_id, form, 422)
    try:
        with services().Session.begin() as db:
            correction = dc.request_correction(
                db, db.get(Account, current_user.id), project_id=project.id, worker_id=form.worker_id.data,
                day=form.day.data, direction=form.direction.data, clock=form.clock.data, reason=form.reason.data,
                remote_addr=remote_addr())
            correction_id, workflow_id = correction.id, correction.workflow_id
    except dc.CorrectionError as exc:
        flash(refusal_message(exc.code, PUNCH_CORRECTION_REFUSALS), "error")
        return _page(project_id, form, 422)
    if not _start(correction_id, workflow_id, current_user.id):
        with services().Session.begin() as db:  # no process to decide it: the request counts for nothing
            dc.cancel(db, correction_id)
        return redirect(url_for("attendance.corrections", project_id=project_id))
    flash(_("The correction was requested. Another person of the project approves or refuses it."), "success")
    return redirect(url_for("attendance.corrections", project_id=project_id))


@bp.route("/correction/<int:correction_id>/<any(approve, refuse):decision>", methods=["POST"])
@readers_only
def decide_correction(correction_id: int, decision: str):
    with services().Session() as db:
        correction = get_or_404(db, PunchCorrection, correction_id)
        project_id, workflow_id = correction.project_id, correction.workflow_id
    form = CorrectionDecisionForm()
    if not form.validate_on_submit() or workflow_id is None:
        flash_form_problem(form)
        return redirect(url_for("attendance.corrections", project_id=project_id))
    decided = CorrectionDecision.APPROVE if decision == CorrectionDecision.APPROVE else CorrectionDecision.REFUSE
    arg = CorrectionDecideInput(current_user.id, decided, (form.reason.data or "").strip())
    ok, _result, _code = call_process(lambda: bridge().update(workflow_id, AttendanceCorrectionWorkflow.decide, arg),
                                      PUNCH_CORRECTION_REFUSALS)
    if ok:
        flash(_("The correction was approved.") if decided == CorrectionDecision.APPROVE
              else _("The correction was refused."), "success")
    return redirect(url_for("attendance.corrections", project_id=project_id))

