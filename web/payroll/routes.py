"""Payroll specialist: the project's monthly wage runs and their four signed steps (PAY-3, PAY-4).

Thin views: the domain signs (security password → Ed25519 step document), the process
(WageRunWorkflow) decides. Scope: the specialist's own project; another project's run is a 404.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Optional

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import signing
from domain.uploads import UploadError, check_scan, check_xlsx, read_upload
from domain.models import (
    Account,
    AuditLog,
    BankBatch,
    BankCard,
    Project,
    Role,
    StoredFile,
    WageLine,
    WageRun,
    Worker,
)
from domain.registration import fen_to_yuan
from domain.rules import mask_card_number
from domain.wage_run import WageRunError, cancel_reason, maker_checker_required, open_run, sign_step
from domain.wage_run import lines_on_failed_card
from domain.workforce import current_cards
from domain.wage_table import prefill_xlsx
from domain.processes.wage_run import (
    SIGNED_STEPS,
    LineFailure,
    ReissueInput,
    SettleLineInput,
    SignedStepInput,
    Step,
    WageLineStatus,
    WageRunInput,
    WageRunStatus,
    error_report_name,
    settle_sha256,
)
from workflows.wage_run import WageRunWorkflow

from ..formutil import flash_form_problem
from ..core import bridge, call_process_code, remote_addr, send_bytes, services
from .. import i18n
from ..i18n import bank_failure, local_time, refusal_message, upload_message
from ..scoping import get_or_404
from ..security import SCAN_CSP, require_roles
from .sign_sheet import DOCX, sign_sheet_docx
from .table_report import problems_of, readable_report
from .forms import (
    WageFileForm,
    ChangeSecurityPasswordForm,
    OpenRunForm,
    ReissueForm,
    SetSecurityPasswordForm,
    SettleForm,
    SignedSheetForm,
    WageTableForm,
)

log = logging.getLogger("shiming.web.payroll")
bp = Blueprint("payroll", __name__, url_prefix="/payroll", template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LINE_FILTERS = ("all", "paid", "failed", "settled")

# status and step labels have their own tables and msgids in web/i18n.py
STEP_LABELS, RUN_STATUS, LINE_STATUS = i18n.STEP_LABELS, i18n.RUN_STATUS, i18n.LINE_STATUS

RUN_ERRORS = {
    "bad_month": _l("Not a valid month: enter it as YYYY-MM."),
    "no_wage_account": _l("The project has no bound wage account yet."),
    "run_exists": _l("A wage run for this month already exists."),
    "future_month": _l("This month has not begun yet: a wage run can be opened for the current month or an earlier one."),
}

PAYROLL_REFUSALS = {
    "WrongStep": _l("The run is not at this step any more. Please look at it again."),
    "Busy": _l("Another action on this run is in progress. Please try again in a moment."),
    "MakerChecker": _l("The specialist who uploaded the wage table cannot submit the wage file: "
                       "another payroll specialist must do it."),
    "StaleBatch": _l("The wage file has changed since this page was opened. Please download it again."),
    "WageTableInvalid": _l("The wage table has errors. Download the error report, correct the table "
                           "and upload it again."),
    "SignatureRefused": _l("The signature was refused."),
    "BankRefused": _l("The bank refused the file."),
    "NothingToReissue": _l("There are no failed lines to re-issue."),
    "ReasonRequired": _l("A reason is required."),
    "NotFailed": _l("Only a failed line can be settled."),
    "UnknownLine": _l("This line is not one of the run's lines. Please look at the run again."),
    "UnknownStatement": _l("A bank statement does not belong to this run: it was not applied."),
    "StatementRefused": _l("A bank statement failed verification: it was not applied."),
    "MissingCard": _l("A worker of the table has no payroll card."),
    "EmptyBatch": _l("The wage table has no line to pay."),
    "SameFailedCard": _l("A failed line cannot be re-issued to the card the bank refused (closed, unknown to the "
                       "bank or in another name). The project account replaces the worker's payroll card "
                       "first; or mark the line as settled otherwise."),
    "Cancelling": _l("This wage run is being cancelled by an administrator: no further step is possible."),
}


def _lookup(table: dict, code: Optional[str]) -> str:
    if code is None:
        return ""
    value = table.get(code)
    return str(value) if value is not None else code


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


def _call(action: Callable[[], Any]) -> tuple[bool, Any, Optional[str]]:
    """Run a call into the process; a refusal (logged as one line) or an outage becomes a translated flash."""
    return call_process_code(action, PAYROLL_REFUSALS)


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
        rows = [{"id": r.id, "month": r.month, "step": r.step, "step_label": _lookup(STEP_LABELS, r.step),
                 "status": r.status, "status_label": _lookup(RUN_STATUS, r.status),
                 "line_count": r.line_count, "total": fen_to_yuan(r.total_fen or 0)} for r in runs]
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
        flash(_lookup(RUN_ERRORS, exc.code), "error")
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

    ok, _r, _code = _call(lambda: bridge().run(start))
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


def _lines(db, run_id: int, which: str) -> list[dict]:
    q = (select(WageLine, Worker.name, BankCard.last4)
         .join(Worker, Worker.id == WageLine.worker_id)
         .outerjoin(BankCard, BankCard.id == WageLine.card_id)
         .where(WageLine.run_id == run_id))
    if which in (WageLineStatus.PAID, WageLineStatus.FAILED, WageLineStatus.SETTLED):
        q = q.where(WageLine.status == which)
    rows = []
    for line, name, last4 in db.execute(q.order_by(WageLine.seq)):
        rows.append({"id": line.id, "seq": line.seq, "name": name,
                     "card": mask_card_number(last4) if last4 else "",
                     "net": fen_to_yuan(line.net_fen), "status": line.status,
                     "status_label": _lookup(LINE_STATUS, line.status),
                     "failure_code": line.failure_code or "", "failure": bank_failure(line.failure_code),
                     "settled_reason": line.settled_reason or "",
                     "back_pay_month": line.back_pay_month or ""})
        rows[-1].update(batch_version=line.batch_version, card_id=line.card_id, worker_id=line.worker_id)
    _mark_reissue_cards(db, run_id, rows)
    return rows


def _mark_reissue_cards(db, run_id: int, rows: list[dict]) -> None:
    """Failed lines: the card a re-issue would pay into (the worker's current card, masked), or that
    it needs a new card first (its card failure is still the current card: refused SameFailedCard)."""
    failed = [row for row in rows if row["status"] == WageLineStatus.FAILED]
    stuck = {line.line_id for line in lines_on_failed_card(db, run_id)}
    current = current_cards(db, [row["worker_id"] for row in failed]) if failed else {}
    for row in failed:
        card = current.get(row["worker_id"])
        row["needs_new_card"] = row["id"] in stuck
        row["next_card"] = mask_card_number(card.last4) if card is not None and card.id != row["card_id"] else ""


def _needs_new_card(db, run_id: int) -> list[dict]:
    """The failed lines a re-issue would send to the card the bank refused, with the worker's name."""
    stuck = lines_on_failed_card(db, run_id)
    names = dict(db.execute(select(Worker.id, Worker.name).where(
        Worker.id.in_({line.worker_id for line in stuck}))).all()) if stuck else {}
    return [{"id": line.line_id, "seq": line.seq, "name": names.get(line.worker_id, ""),
             "failure": bank_failure(line.failure_code), "name_mismatch": line.failure_code == LineFailure.NAME_MISMATCH}
            for line in stuck]


def _error_report(db, run_id: int) -> Optional[StoredFile]:
    return db.scalar(select(StoredFile).where(StoredFile.display_name == error_report_name(run_id))
                     .order_by(StoredFile.id.desc()).limit(1))


STATEMENT_PROBLEMS = ("bank_statement.refused", "bank_statement.conflict", "bank_statement.refused_at_apply")


def _statement_problems(db, workflow_id: str) -> list[dict]:
    """Bank statements of this run that were refused or conflict: the audit rows, newest first."""
    from ..timeline import ACTIONS

    rows = db.scalars(select(AuditLog).where(AuditLog.business_key == workflow_id,
                                             AuditLog.action.in_(STATEMENT_PROBLEMS))
                      .order_by(AuditLog.id.desc()).limit(20))
    return [{"action": row.action, "when": local_time(row.created_at), "text": str(ACTIONS[row.action])}
            for row in rows]


@bp.route("/run/<int:run_id>")
def run(run_id: int):
    which = request.args.get("lines", "all")
    if which not in LINE_FILTERS:
        which = "all"
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        project = db.get(Project, run.project_id)
        uploader = db.get(Account, run.table_uploaded_by) if run.table_uploaded_by else None
        batches = list(db.scalars(select(BankBatch).where(BankBatch.run_id == run.id).order_by(BankBatch.version)))
        report = _error_report(db, run.id) if run.step == Step.WAGE_TABLE else None
        lines = _lines(db, run.id, which)
        has_key = _has_key(db)
        context = dict(
            run=run, project_name=project.name if project else "", lines=lines, which=which,
            step_label=_lookup(STEP_LABELS, run.step), status_label=_lookup(RUN_STATUS, run.status),
            uploader=uploader.display_name if uploader else "", uploader_is_me=run.table_uploaded_by == current_user.id,
            total=fen_to_yuan(run.total_fen or 0),
            batches=[{"version": b.version, "batch_id": b.batch_id, "line_count": b.line_count,
                      "total": fen_to_yuan(b.total_fen), "status": b.status, "has_file": b.file_id is not None}
                     for b in batches],
            error_report=report, has_key=has_key,
            cancel_reason=cancel_reason(db, run) if run.status == WageRunStatus.CANCELLED else "",
            table_problems=problems_of(services().blobs.get(report.sha256)) if report else [],
            statement_problems=_statement_problems(db, run.workflow_id),
            needs_new_card=_needs_new_card(db, run.id),
        )
    view = _query_status(context["run"].workflow_id)
    batch = getattr(view, "batch", None) if view is not None else None
    context.update(
        steps=[(s, STEP_LABELS[s]) for s in SIGNED_STEPS],
        process_step=getattr(view, "step", None) if view is not None else None,
        process_step_label=_lookup(STEP_LABELS, getattr(view, "step", None)) if view is not None else "",
        reachable=view is not None,
        current_batch=batch,
        current_batch_total=fen_to_yuan(batch.total_fen) if batch is not None else "",
        reconcile=getattr(view, "reconcile", None) if view is not None else None,
        table_form=WageTableForm(formdata=None), sheet_form=SignedSheetForm(formdata=None),
        wage_file_form=WageFileForm(formdata=None, batch_version=batch.version if batch is not None else None),
        reissue_form=ReissueForm(formdata=None), settle_form=SettleForm(formdata=None),
        line_filters=[("all", _("All")), ("paid", _("Paid")), ("failed", _("Failed")), ("settled", _("Settled otherwise"))],
    )
    return render_template("payroll/run.html", **context)


@bp.route("/run/<int:run_id>/table.xlsx")
def table(run_id: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        data = prefill_xlsx(db, services().cipher, run.project_id, run.month)
        name = f"wage-table-{run.month}.xlsx"
    return send_bytes(data, name, XLSX)


def _accepted_run(db, run_id: int) -> WageRun:
    """The run in scope whose wage table was accepted (step 1 done); else 404."""
    run = _run_in_scope(db, run_id)
    if run.table_file_id is None:
        abort(404)
    return run


@bp.route("/run/<int:run_id>/accepted-table.xlsx")
def accepted_table(run_id: int):
    """The wage table as it was accepted (signed in step 1), again."""
    with services().Session() as db:
        run = _accepted_run(db, run_id)
        stored = db.get(StoredFile, run.table_file_id)
        data, month = services().blobs.get(stored.sha256), run.month
    return send_bytes(data, _("Accepted wage table %(month)s.xlsx", month=month), XLSX)


@bp.route("/run/<int:run_id>/sign-sheet.docx")
def sign_sheet(run_id: int):
    """The printable sheet the workers sign (step 2), built from the accepted table's lines."""
    with services().Session() as db:
        run = _accepted_run(db, run_id)
        data, month = sign_sheet_docx(db, services().cipher, run), run.month
    return send_bytes(data, _("Wage sign sheet %(month)s.docx", month=month), DOCX)


@bp.route("/run/<int:run_id>/errors.xlsx")
def error_report(run_id: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        report = _error_report(db, run.id)
        if report is None:
            abort(404)
        data, name = services().blobs.get(report.sha256), report.display_name
    try:  # the stored report holds codes: the reader gets it in their language
        data = readable_report(data)
    except ValueError:
        log.warning("error report %s of run %s is not readable; served as stored", report.id, run_id)
    return send_bytes(data, name, XLSX)


@bp.route("/run/<int:run_id>/wage-file/<int:version>")
def wage_file(run_id: int, version: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        batch = db.scalar(select(BankBatch).where(BankBatch.run_id == run.id, BankBatch.version == version))
        stored = db.get(StoredFile, batch.file_id) if batch is not None and batch.file_id else None
        if stored is None:
            abort(404)
        data, content_type, name = services().blobs.get(stored.sha256), stored.content_type, stored.display_name
    return send_bytes(data, name, content_type)


@bp.route("/run/<int:run_id>/sheet")
def sheet(run_id: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        stored = db.get(StoredFile, run.sheet_file_id) if run.sheet_file_id else None
        if stored is None:
            abort(404)
        data, content_type, name = services().blobs.get(stored.sha256), stored.content_type, stored.display_name
    return send_bytes(data, name, content_type, inline=True, csp=SCAN_CSP)


def _back(run_id: int, anchor: str = ""):
    return redirect(url_for("payroll.run", run_id=run_id) + (f"#{anchor}" if anchor else ""))


def _sign(run_id: int, step: str, content_sha256: str, password: str):
    """The signed step, or None after flashing why the security password was refused."""
    try:
        return sign_step(services().Session, current_user.id, password, run_id, step, content_sha256)
    except signing.SecurityPasswordError as exc:
        flash(security_password_message(exc), "error")
        return None


def _step_input(run_id: int, signed, file_id=None, batch_version: int = 0) -> SignedStepInput:
    return SignedStepInput(run_id=run_id, actor_id=current_user.id, step=signed.step,
                           content_sha256=signed.content_sha256, document=signed.document,
                           signature=signed.signature, signing_key_id=signed.signing_key_id,
                           file_id=file_id, batch_version=batch_version)


def _read_upload(field) -> bytes:
    """The uploaded wage table after the upload guard (size, OOXML by content, zip bomb, entry names)."""
    limit = services().settings.upload_max_bytes
    data = read_upload(field.data, limit)
    check_xlsx(data, limit)
    return data


@bp.route("/run/<int:run_id>/wage-table", methods=["POST"])
def submit_table(run_id: int):
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
    form = WageTableForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(run_id, "step-wage-table")
    try:
        data = _read_upload(form.table)
    except UploadError as exc:
        flash(upload_message(str(exc)), "error")
        return _back(run_id, "step-wage-table")
    sha = hashlib.sha256(data).hexdigest()
    signed = _sign(run_id, Step.WAGE_TABLE, sha, form.security_password.data)
    if signed is None:
        return _back(run_id, "step-wage-table")
    with services().Session.begin() as db:
        file_id = services().blobs.store(db, data, XLSX, f"wage-table-{run_id}.xlsx").id
    ok, _r, code = _call(lambda: bridge().update(workflow_id, WageRunWorkflow.submit_wage_table,
                                                 _step_input(run_id, signed, file_id)))
    if ok:
        flash(_("The wage table was accepted."), "success")
    elif code == "WageTableInvalid":
        flash(_("An error report is ready for download on this page."), "info")
    return _back(run_id, "step-wage-table")


@bp.route("/run/<int:run_id>/signed-sheet", methods=["POST"])
def submit_sheet(run_id: int):
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
    form = SignedSheetForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(run_id, "step-signed-sheet")
    limit = services().settings.upload_max_bytes
    try:
        # checked by content before anything is signed; stored only after the password was right
        data = read_upload(form.sheet.data, limit)
        check_scan(data, limit)
    except UploadError as exc:
        flash(upload_message(str(exc)), "error")
        return _back(run_id, "step-signed-sheet")
    sha = hashlib.sha256(data).hexdigest()
    signed = _sign(run_id, Step.SIGNED_SHEET, sha, form.security_password.data)
    if signed is None:
        return _back(run_id, "step-signed-sheet")
    with services().Session.begin() as db:
        file_id = services().blobs.store_scan(db, data, limit, f"signed-sheet-{run_id}").id
    ok, _r, _code = _call(lambda: bridge().update(workflow_id, WageRunWorkflow.submit_signed_sheet,
                                                  _step_input(run_id, signed, file_id)))
    if ok:
        flash(_("The signed sheet was accepted and the wage file was built."), "success")
    return _back(run_id, "step-signed-sheet")


@bp.route("/run/<int:run_id>/wage-file", methods=["POST"])
def submit_wage_file(run_id: int):
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
    form = WageFileForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(run_id, "step-wage-file")
    view = _query_status(workflow_id)
    batch = getattr(view, "batch", None) if view is not None else None
    if batch is None:
        flash(refusal_message("Unavailable"), "error")
        return _back(run_id, "step-wage-file")
    if batch.version != form.batch_version.data:
        flash(_refusal("StaleBatch"), "error")
        return _back(run_id, "step-wage-file")
    signed = _sign(run_id, Step.WAGE_FILE, batch.plaintext_sha256, form.security_password.data)
    if signed is None:
        return _back(run_id, "step-wage-file")
    ok, _r, _code = _call(lambda: bridge().update(
        workflow_id, WageRunWorkflow.submit_bank_file,
        _step_input(run_id, signed, batch.file_id, batch_version=batch.version)))
    if ok:
        flash(_("The wage file was sent to the bank."), "success")
    return _back(run_id, "step-wage-file")


@bp.route("/run/<int:run_id>/reissue", methods=["POST"])
def reissue(run_id: int):
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
    if not ReissueForm().validate_on_submit():
        return _back(run_id, "step-reconcile")
    ok, _r, _code = _call(lambda: bridge().update(workflow_id, WageRunWorkflow.reissue_failed,
                                                  ReissueInput(current_user.id)))
    if ok:
        flash(_("A new wage file with the failed lines was built. Submit it in step 3."), "success")
    return _back(run_id, "step-wage-file")


@bp.route("/run/<int:run_id>/line/<int:line_id>/settle", methods=["POST"])
def settle(run_id: int, line_id: int):
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
        line = db.get(WageLine, line_id)
        if line is None or line.run_id != run_id:
            abort(404)
    form = SettleForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(run_id, "step-reconcile")
    reason = form.reason.data.strip()
    if not reason:
        flash(_("A reason is required."), "error")
        return _back(run_id, "step-reconcile")
    signed = _sign(run_id, Step.SETTLE, settle_sha256(line_id, reason), form.security_password.data)
    if signed is None:
        return _back(run_id, "step-reconcile")
    ok, _r, _code = _call(lambda: bridge().update(
        workflow_id, WageRunWorkflow.settle_line,
        SettleLineInput(run_id=run_id, actor_id=current_user.id, line_id=line_id, reason=reason,
                        document=signed.document, signature=signed.signature,
                        signing_key_id=signed.signing_key_id)))
    if ok:
        flash(_("The line was marked as settled."), "success")
    return _back(run_id, "step-reconcile")
