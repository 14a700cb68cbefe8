"""Project and enterprise accounts: the projects in their scope, the workers of the project and their
exit (PAY-7). The blueprint `project`; the card replacement and the roster import are its modules
card.py and roster.py."""
from __future__ import annotations

import logging
from typing import Optional

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import worker_exit as wx
from domain import workforce as wf
from domain.models import Account, Project, ProjectWorker, Role, SiteAccessRevocation, Team, WageLine, Worker
from domain.money import format_yuan
from domain.processes.wage_run import WageLineStatus
from domain.wage_run import CARD_FAILURES
from domain.rules import TRADE_CODES, mask_card_number, mask_id_number, mask_phone
from domain.processes.worker_exit import CancelExitRequest, ExitState, RecheckInput, WorkerExitInput
from domain.processes.worker_exit import Refusal as ExitRefusal
from workflows.worker_exit import WorkerExitWorkflow

from ..formutil import flash_form_problem
from ..core import bridge, call_process, remote_addr, services
from ..refusals import EXIT_ERRORS, EXIT_REFUSALS
from .. import i18n
from ..i18n import bank_failure, project_status
from ..scoping import get_or_404, record_denied
from ..security import require_roles
from .forms import CancelExitForm, ExitForm, PlainForm

log = logging.getLogger("shiming.web.project")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

bp = Blueprint("project", __name__, url_prefix="/project", template_folder="templates")


@bp.before_request
def guard():
    # the supervisory authority reads the project list (all projects: its scope is province-wide)
    return require_roles(Role.PROJECT, Role.ENTERPRISE, Role.SUPERVISOR, Role.COMPANY)


def projects_in_scope(db) -> list[Project]:
    """The caller's projects: the scoping rule (domain/scope.py) does the filtering."""
    return list(db.scalars(select(Project).order_by(Project.code)))


@bp.route("/")
def home():
    cipher = services().cipher
    with services().Session() as db:
        rows = [{
            "id": p.id,
            "code": p.code,
            "name": p.name,
            "address": p.address,
            "district": p.district.name,
            "contractor": p.contractor_name,
            "contract_value": format_yuan(p.contract_value_fen),
            "period": f"{p.planned_start.isoformat()} — {p.planned_end.isoformat()}",
            "contact": p.contact_name,
            "phone": mask_phone(cipher.decrypt(p.contact_phone_enc, "phone")),
            "status": project_status(p.status),
        } for p in projects_in_scope(db)]
    return render_template("project/home.html", projects=rows)


# ---- workers of the project (project account only) --------------------------------------------
# The labour specialist (劳资专管员) works through the project account: its own project's workers,
# the roster import, card replacement and the exit process (PAY-7). Another project's worker is 404.

WORKER_FILTERS = ("all", wx.ACTIVE, wx.EXITING, wx.EXITED)

WORKER_STATUS = {
    wx.ACTIVE: _l("On site"),
    wx.EXITING: _l("Exit requested"),
    wx.EXITED: _l("Exited"),
}

EXIT_STATE = {
    ExitState.CHECKING: _l("Checking wages"),
    ExitState.WAITING: _l("Waiting for wages to be paid"),
    ExitState.FINISHING: _l("Recording the exit"),
    ExitState.EXITED: _l("Exited"),
    ExitState.CANCELLING: _l("Being withdrawn"),
    ExitState.CANCELLED: _l("Withdrawn"),
}




def _only_project_account() -> None:
    if current_user.role != Role.PROJECT:
        abort(403)


def _project_or_company() -> None:
    """Reading the workers: the project account, or a company account (its own workers: the scope)."""
    if current_user.role not in (Role.PROJECT, Role.COMPANY):
        abort(403)


def _may_collect() -> bool:
    if current_user.role == Role.PROJECT:
        return True
    with services().Session() as db:
        account = db.get(Account, current_user.id)
        return bool(account and account.role == Role.COMPANY and account.can_collect and account.company_id)


def _collector_company() -> Optional[int]:
    """Who may enrol workers: the project account (None: any team), or a company account with the
    "collect" permission (its company's id: its own teams only). Anyone else: 403."""
    if current_user.role == Role.PROJECT:
        return None
    if current_user.role == Role.COMPANY:
        with services().Session() as db:
            account = db.get(Account, current_user.id)
            if account.can_collect and account.company_id:
                return account.company_id
    abort(403)


def _engagement(db, pw_id: int) -> ProjectWorker:
    """The engagement if it is of the account's own project; anything else answers 404 (audited
    when the record exists but is out of scope)."""
    pw = get_or_404(db, ProjectWorker, pw_id)
    if pw.project_id != current_user.project_id:  # in scope (an allocated project) but not its own
        record_denied(ProjectWorker.__tablename__, pw_id)
        abort(404)
    return pw


def _worker_row(cipher, pw: ProjectWorker, worker: Worker, team_name: str, last4: Optional[str]) -> dict:
    phone = wf.phone_of(cipher, worker)
    return {
        "id": pw.id, "name": worker.name,
        "id_number": mask_id_number(wf.id_number_of(cipher, worker)),
        "team": team_name, "trade": f"{pw.trade} {TRADE_CODES[pw.trade]}" if pw.trade in TRADE_CODES else pw.trade,
        "card": mask_card_number(last4) if last4 else "",
        "phone": mask_phone(phone) if phone else "",
        "status": pw.status, "status_label": i18n.label(WORKER_STATUS, pw.status),
        "entry_date": pw.entry_date.isoformat() if pw.entry_date else "",
        "exit_date": pw.exit_date.isoformat() if pw.exit_date else "",
        "exit_requested_at": pw.exit_requested_at,
        # ENR-2: a roster worker is "not verified by card" until a card read at enrolment confirms them
        "verified_by_card": worker.verified_by_card,
        "admitted_at": pw.admitted_at, "enrolment_id": pw.enrolment_id,
    }


@bp.route("/workers")
def workers():
    _project_or_company()
    which = request.args.get("status", "all")
    if which not in WORKER_FILTERS:
        which = "all"
    cipher = services().cipher
    rows = []
    with services().Session() as db:
        if current_user.project_id is not None:
            q = (select(ProjectWorker, Worker, Team.name)
                 .join(Worker, Worker.id == ProjectWorker.worker_id)
                 .join(Team, Team.id == ProjectWorker.team_id)
                 .where(ProjectWorker.project_id == current_user.project_id))
            if which != "all":
                q = q.where(ProjectWorker.status == which)
            found = db.execute(q.order_by(Team.name, Worker.name, ProjectWorker.id)).all()
            cards = wf.current_cards(db, [worker.id for _pw, worker, _t in found])
            rows = [_worker_row(cipher, pw, worker, team, cards[worker.id].last4 if worker.id in cards else None)
                    for pw, worker, team in found]
    filters = [("all", _("All"))] + [(code, str(label)) for code, label in WORKER_STATUS.items()]
    return render_template("project/workers.html", rows=rows, which=which, filters=filters,
                           may_collect=_may_collect())


def _exit_view(workflow_id: Optional[str]):
    if not workflow_id:
        return None
    try:
        return bridge().run(lambda c: c.get_workflow_handle(workflow_id).query(WorkerExitWorkflow.status), timeout=10)
    except Exception:  # noqa: BLE001 - the page still shows the database's view
        log.info("worker exit %s: status query failed", workflow_id, exc_info=True)
        return None


@bp.route("/workers/<int:pw_id>")
def worker(pw_id: int):
    _project_or_company()
    cipher = services().cipher
    with services().Session() as db:
        pw = _engagement(db, pw_id)
        person = db.get(Worker, pw.worker_id)
        team = db.get(Team, pw.team_id)
        card = wf.current_card(db, person.id)
        row = _worker_row(cipher, pw, person, team.name if team else "", card.last4 if card else None)
        row["bank_name"] = card.bank_name if card else ""
        found = wx.outstanding(db, pw)
        failures = {line_id: (code, card_id) for line_id, code, card_id in db.execute(
            select(WageLine.id, WageLine.failure_code, WageLine.card_id).where(
                WageLine.id.in_([line.line_id for line in found.lines])))} if found.lines else {}
        lines = [{"id": line.line_id, "month": line.month, "net": format_yuan(line.net_fen),
                  "status": line.status, "status_label": i18n.line_status(line.status),
                  "failure": bank_failure(failures.get(line.line_id, (None, None))[0]),
                  # failed for its card, which is still current: a re-issue needs a replacement first
                  "needs_new_card": line.status == WageLineStatus.FAILED and card is not None
                  and failures.get(line.line_id, (None, None))[0] in CARD_FAILURES
                  and failures[line.line_id][1] == card.id} for line in found.lines]
        requester = db.get(Account, pw.exit_requested_by) if pw.exit_requested_by else None
        revocation = db.scalar(select(SiteAccessRevocation).where(SiteAccessRevocation.project_worker_id == pw.id))
        revoked = {"issued_at": revocation.issued_at, "consumed_at": revocation.consumed_at} if revocation else None
        workflow_id = pw.exit_workflow_id if pw.status == wx.EXITING else None
        is_requester = pw.exit_requested_by == current_user.id
    view = _exit_view(workflow_id)
    return render_template(
        "project/worker.html", w=row, lines=lines, months=found.months_without_run,
        unpaid_total=format_yuan(found.unpaid_fen), clear=found.clear,
        requester=requester.display_name if requester else "", is_requester=is_requester, revoked=revoked,
        view=view, reachable=view is not None, state_label=i18n.label(EXIT_STATE, view.state) if view else "",
        exit_form=ExitForm(formdata=None), cancel_form=CancelExitForm(formdata=None), plain_form=PlainForm(formdata=None))


def _back(pw_id: int, anchor: str = ""):
    return redirect(url_for("project.worker", pw_id=pw_id) + (f"#{anchor}" if anchor else ""))


def _start_exit(pw_id: int, workflow_id: str, requested_by: int) -> bool:
    """Start the exit process; one already running under that id counts as started."""
    queue = bridge().task_queue

    async def start(client):
        try:
            await client.start_workflow(WorkerExitWorkflow.run, WorkerExitInput(pw_id, requested_by),
                                        id=workflow_id, task_queue=queue)
        except WorkflowAlreadyStartedError:
            pass

    return call_process(lambda: bridge().run(start), EXIT_REFUSALS, EXIT_ERRORS).ok


@bp.route("/workers/<int:pw_id>/exit", methods=["POST"])
def request_exit(pw_id: int):
    _only_project_account()
    with services().Session() as db:
        _engagement(db, pw_id)
    form = ExitForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(pw_id, "exit")
    try:
        with services().Session.begin() as db:
            pw = wx.request_exit(db, current_user.project_id, pw_id, db.get(Account, current_user.id),
                                 form.reason.data, remote_addr=remote_addr())
            workflow_id = pw.exit_workflow_id
    except wx.WorkerExitError as exc:
        flash(i18n.label(EXIT_ERRORS, exc.code), "error")
        return _back(pw_id, "exit")
    if _start_exit(pw_id, workflow_id, current_user.id):
        flash(_("The exit was requested. It is recorded once the worker's wages are paid."), "success")
    return _back(pw_id, "exit")


@bp.route("/workers/<int:pw_id>/exit/start", methods=["POST"])
def start_exit(pw_id: int):
    """Start the process again when the request was stored but the engine was not reachable."""
    _only_project_account()
    with services().Session() as db:
        pw = _engagement(db, pw_id)
        status, workflow_id, requested_by = pw.status, pw.exit_workflow_id, pw.exit_requested_by
    if PlainForm().validate_on_submit() and status == wx.EXITING and workflow_id and requested_by \
            and _start_exit(pw_id, workflow_id, requested_by):
        flash(_("The exit process was started."), "success")
    return _back(pw_id, "exit")


@bp.route("/workers/<int:pw_id>/exit/recheck", methods=["POST"])
def recheck_exit(pw_id: int):
    _only_project_account()
    with services().Session() as db:
        pw = _engagement(db, pw_id)
        status, workflow_id = pw.status, pw.exit_workflow_id
    if PlainForm().validate_on_submit() and status == wx.EXITING and workflow_id:
        async def signal(client):
            await client.get_workflow_handle(workflow_id).signal(WorkerExitWorkflow.recheck, RecheckInput("web"))

        if call_process(lambda: bridge().run(signal), EXIT_REFUSALS, EXIT_ERRORS).ok:
            flash(_("The wages are being checked again."), "info")
    return _back(pw_id, "exit")


@bp.route("/workers/<int:pw_id>/exit/cancel", methods=["POST"])
def cancel_exit(pw_id: int):
    _only_project_account()
    with services().Session() as db:
        pw = _engagement(db, pw_id)
        status, workflow_id = pw.status, pw.exit_workflow_id
    form = CancelExitForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(pw_id, "exit")
    if status != wx.EXITING or not workflow_id:
        flash(i18n.label(EXIT_ERRORS, ExitRefusal.NOT_EXITING), "error")
        return _back(pw_id, "exit")
    if call_process(lambda: bridge().update(workflow_id, WorkerExitWorkflow.cancel_exit,
                                            CancelExitRequest(current_user.id, form.reason.data.strip())),
                    EXIT_REFUSALS, EXIT_ERRORS).ok:
        flash(_("The exit was withdrawn."), "success")
    return _back(pw_id, "exit")
