from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Optional

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from bank_connectors.protocol import CARD, CLOSED, NAME_MISMATCH, NOT_FOUND, AccountCheck, BankUnavailable
from domain import audit, scope
from domain import worker_exit as wx
from domain import workforce as wf
from domain.uploads import UploadError, check_xlsx, read_upload
from domain.models import (
    Account,
    BankCard,
    Project,
    ProjectWorker,
    Role,
    SiteAccessRevocation,
    StoredFile,
    Team,
    WageLine,
    Worker,
)
from domain.registration import fen_to_yuan
from domain.processes.wage_run import WageLineStatus
from domain.wage_run import CARD_FAILURES
from domain.roster import MAX_BYTES as MAX_ROSTER_BYTES
from domain.roster import MAX_UNPACKED_BYTES as MAX_ROSTER_UNPACKED
from domain.roster import error_report_xlsx, import_roster, roster_template_xlsx
from domain.rules import (
    TRADE_CODES,
    card_number_problems,
    mask_card_number,
    mask_id_number,
    mask_phone,
    normalize_card_number,
)
from domain.processes.worker_exit import CancelExitRequest, ExitState, RecheckInput, WorkerExitInput
from domain.processes.worker_exit import Refusal as ExitRefusal
from workflows.worker_exit import WorkerExitWorkflow

from ..formutil import flash_form_problem
from ..core import bank_connector, bridge, call_process, remote_addr, send_bytes, services
from ..refusals import EXIT_ERRORS, EXIT_REFUSALS
from .. import i18n
from ..i18n import bank_failure, project_status, upload_message
from ..scoping import get_or_404, record_denied
from ..security import rate_limit, require_roles, verify_reauth
from .forms import CancelExitForm, CardForm, ExitForm, PlainForm, RosterForm

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
            "contract_value": fen_to_yuan(p.contract_value_fen),
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



CARD_ERRORS = {
    "format": _l("A card number has 12 to 19 digits."),
    "check_digit": _l("The card number is wrong (check digit)."),
    "in_use": _l("This card is already the payroll card of another worker."),
    "same": _l("This card is already the worker's current card."),
    "bank_unavailable": _l("The bank could not be reached to check this card. Nothing was changed; "
                           "please try again later."),
}

# the bank's answer to the card check (bank_connectors/protocol.py, kind "card"), in the words the
# reconciliation uses for a line the bank did not pay (web/i18n.py BANK_FAILURES)
CARD_CHECK_REFUSALS = {
    NOT_FOUND: i18n.BANK_FAILURES["CARD_UNKNOWN"],
    CLOSED: i18n.BANK_FAILURES["CARD_CLOSED"],
    NAME_MISMATCH: i18n.BANK_FAILURES["NAME_MISMATCH"],
}
CARD_CHECK_OTHER = i18n.BANK_FAILURE_OTHER


ROSTER_ERRORS_NAME = "roster-errors-{project_id}.xlsx"
COMPANY_ROSTER_ERRORS_NAME = "roster-errors-{project_id}-company-{company_id}.xlsx"


def _roster_errors_name(project_id: int, company_id: Optional[int]) -> str:
    if company_id is None:
        return ROSTER_ERRORS_NAME.format(project_id=project_id)
    return COMPANY_ROSTER_ERRORS_NAME.format(project_id=project_id, company_id=company_id)


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
        lines = [{"id": line.line_id, "month": line.month, "net": fen_to_yuan(line.net_fen),
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
        unpaid_total=fen_to_yuan(found.unpaid_fen), clear=found.clear,
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


# ---- card replacement ---------------------------------------------------------------------------


@bp.route("/workers/<int:pw_id>/card", methods=["GET", "POST"])
@rate_limit("card_binding")
def card(pw_id: int):
    _only_project_account()
    cipher = services().cipher
    with services().Session() as db:
        pw = _engagement(db, pw_id)
        person = db.get(Worker, pw.worker_id)
        current = wf.current_card(db, person.id)
        context = {"pw_id": pw.id, "name": person.name,
                   "current": mask_card_number(current.last4) if current else "",
                   "current_bank": current.bank_name if current else ""}
    form = CardForm()

    def again(status: int = 422):
        form.card_number.raw_data, form.card_number.data = [], ""  # a card number is never echoed
        return render_template("project/card.html", form=form, **context), status

    if request.method == "GET" or not form.validate_on_submit():
        return again(422 if request.method == "POST" else 200)
    card_number = normalize_card_number(form.card_number.data)
    problems = card_number_problems(card_number)
    if problems:
        form.card_number.errors = [str(CARD_ERRORS[problems[0]])]
        return again()
    # the login password again (counts toward the login lockout; a lockout ends the session)
    if not verify_reauth(form.password.data, "bank_card"):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        form.password.errors = [_("Wrong password.")]
        return again()
    digest = wf.card_number_hash(cipher, card_number)
    with services().Session() as db:
        person = db.get(Worker, _engagement(db, pw_id).worker_id)
        code, worker_id, holder = _card_conflict(db, person, digest), person.id, person.name
    if code is None:
        # the bank checks the card (exists, open, the worker's name) before it is stored: no batch
        # ever uses a card the bank would refuse. Nothing is written before its answer.
        code = _bank_card_check(worker_id, holder, card_number, digest)
    if code is None:
        with services().Session.begin() as db:
            pw = _engagement(db, pw_id)
            person = db.get(Worker, pw.worker_id)
            code = _card_conflict(db, person, digest)  # taken meanwhile by another worker?
            if code is None:
                old = wf.current_card(db, person.id)
                old_masked = mask_card_number(old.last4) if old else ""
                new = wf.set_card(db, cipher, person, form.bank_name.data, card_number)
                account = db.get(Account, current_user.id)
                audit.record(db, actor_id=account.id, actor_name=account.display_name, action="worker.card_replace",
                             target_type="project_worker", target_id=pw.id, remote_addr=remote_addr(),
                             detail={"old_card": old_masked, "new_card": mask_card_number(new.last4),
                                     "bank_name": new.bank_name, "worker_id": person.id, "bank_check": "ok"})
    if code is not None:
        form.card_number.errors = [_card_message(code)]
        return again()
    flash(_("The payroll card was replaced."), "success")
    return _back(pw_id)


def _card_conflict(db, person: Worker, digest: str) -> Optional[str]:
    """`in_use` (another worker's current card), `same` (already this worker's) or None."""
    with scope.unscoped():  # a card is one worker's, whichever project they work on
        owner = db.scalar(select(BankCard.worker_id).where(BankCard.card_number_hash == digest,
                                                           BankCard.is_current.is_(True),
                                                           BankCard.worker_id != person.id).limit(1))
    if owner is not None:
        return "in_use"
    old = wf.current_card(db, person.id)
    return "same" if old is not None and old.card_number_hash == digest else None


def _bank_card_check(worker_id: int, holder: str, card_number: str, digest: str) -> Optional[str]:
    """Ask the bank about the card: None when it is open under the worker's name, else the code
    shown (`bank:<code>`, or `bank_unavailable`). Logged with codes only, never the number."""
    check = AccountCheck(account_number=card_number, account_name=holder, kind=CARD,
                         idempotency_key=f"card-{worker_id}-{digest[:16]}-{uuid.uuid4().hex[:12]}")
    try:
        result = bank_connector().validate_account(check)
    except BankUnavailable:
        log.warning("card check for worker %s: the bank is unavailable", worker_id)
        return "bank_unavailable"
    if result.ok:
        log.info("card check for worker %s: ok", worker_id)
        return None
    log.info("card check for worker %s: refused %s", worker_id, result.code)
    return f"bank:{result.code}"


def _card_message(code: str) -> str:
    if code.startswith("bank:"):
        reason = CARD_CHECK_REFUSALS.get(code[5:], CARD_CHECK_OTHER)
        return _("The bank refused this card: %(reason)s Nothing was changed.", reason=str(reason))
    return str(CARD_ERRORS[code])


# ---- roster import ------------------------------------------------------------------------------


def _roster_report(db, company_id: Optional[int]) -> Optional[StoredFile]:
    name = _roster_errors_name(current_user.project_id, company_id)
    return db.scalar(select(StoredFile).where(StoredFile.display_name == name)
                     .order_by(StoredFile.id.desc()).limit(1))


def _read_upload(field) -> bytes:
    """The uploaded roster after the upload guard (size, OOXML by content, zip bomb, entry names)."""
    limit = min(services().settings.upload_max_bytes, MAX_ROSTER_BYTES)
    data = read_upload(field.data, limit)
    check_xlsx(data, limit, max_unpacked=MAX_ROSTER_UNPACKED)
    return data


@bp.route("/roster", methods=["GET", "POST"])
def roster():
    company_id = _collector_company()
    if current_user.project_id is None:
        abort(404)
    form = RosterForm()
    result = None
    status = 200
    if request.method == "POST":
        status = 422
        if not form.validate_on_submit():
            flash_form_problem(form)
        else:
            try:
                data = _read_upload(form.roster)
            except UploadError as exc:
                flash(upload_message(str(exc)), "error")
            else:
                result = _import(data, company_id)
                if result.ok:
                    flash(_("The roster was imported: %(created)s new and %(updated)s updated workers.",
                            created=result.created, updated=result.updated), "success")
                    return redirect(url_for("project.workers"))
                flash(_("The roster has %(count)s error(s); nothing was imported. Download the error report, "
                        "correct the file and upload it again.", count=len(result.errors)), "error")
    return render_template("project/roster.html", form=form, result=result), status


def _import(data: bytes, company_id: Optional[int] = None):
    project_id = current_user.project_id
    with services().Session.begin() as db:
        result = import_roster(db, services().cipher, project_id, data, company_id=company_id)
        if result.ok:
            account = db.get(Account, current_user.id)
            audit.record(db, actor_id=account.id, actor_name=account.display_name, action="roster.import",
                         target_type="project", target_id=project_id, remote_addr=remote_addr(),
                         detail={"created": result.created, "updated": result.updated,
                                 "sha256": hashlib.sha256(data).hexdigest()})
            return result
    # nothing was written above; the masked report is stored on its own
    with services().Session.begin() as db:
        services().blobs.store(db, error_report_xlsx(result.errors), XLSX,
                               _roster_errors_name(project_id, company_id))
    return result


@bp.route("/roster/template.xlsx")
def roster_template():
    _collector_company()
    return send_bytes(roster_template_xlsx(), "roster-template.xlsx", XLSX)


@bp.route("/roster/errors.xlsx")
def roster_errors():
    company_id = _collector_company()
    if current_user.project_id is None:
        abort(404)
    with services().Session() as db:
        report = _roster_report(db, company_id)
        if report is None:
            abort(404)
        data = services().blobs.get(report.sha256)
    return send_bytes(data, "roster-errors.xlsx", XLSX)
