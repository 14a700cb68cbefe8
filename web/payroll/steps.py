"""Payroll specialist: the signed steps of a wage run (PAY-3, PAY-4) and the re-issue.

The four signed steps (wage table, signed sheet, wage file, settling a failed line) run through
one helper, `_signed_step`: scope → form → content (an upload checked and hashed, or what the
process already holds) → sign with the security password → store → update → flash. Each view says
only what its step differs in. The process (WageRunWorkflow) decides; its refusal reaches the page
through `call_process` with the wage run's messages.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from domain import signing
from domain.models import WageLine
from domain.processes.wage_run import (
    ReissueInput,
    SettleLineInput,
    SignedStepInput,
    Step,
    settle_sha256,
)
from domain.uploads import UploadError, check_scan, check_xlsx, read_upload
from domain.wage_run import SignedStep, sign_step
from workflows.wage_run import WageRunWorkflow

from ..core import bridge, call_process, services
from ..formutil import flash_form_problem
from ..i18n import upload_message
from ..refusals import PAYROLL_REFUSALS, refusal_message
from .forms import ReissueForm, SettleForm, SignedSheetForm, WageFileForm, WageTableForm
from .routes import XLSX, _query_status, _refusal, _run_in_scope, bp, security_password_message


def _back(run_id: int, anchor: str = ""):
    return redirect(url_for("payroll.run", run_id=run_id) + (f"#{anchor}" if anchor else ""))


@dataclass
class Content:
    """What a step signs: the content's hash, and how its file is stored once the signature is made
    (`store` → file id) or the file the process already holds (`file_id`)."""

    sha256: str
    store: Optional[Callable[[], int]] = None
    file_id: Optional[int] = None
    batch_version: int = 0


def _sign(run_id: int, step: str, content_sha256: str, password: str) -> Optional[SignedStep]:
    """The signed step, or None after flashing why the security password was refused."""
    try:
        return sign_step(services().Session, current_user.id, password, run_id, step, content_sha256)
    except signing.SecurityPasswordError as exc:
        flash(security_password_message(exc), "error")
        return None


def _signed_step(run_id: int, anchor: str, form_class: type[FlaskForm], step: Step,
                 content: Callable[[FlaskForm, str], Optional[Content]], update,
                 message: Callable[[SignedStep, Content, FlaskForm], Any], success: str,
                 in_scope: Callable[[Any], None] = lambda db: None) -> tuple[Any, Optional[str]]:
    """One signed step, from the request to the flash: (the redirect back, the refusal code or None).

    `in_scope(db)` may 404 what else is outside the run (a line of another run); `content(form,
    workflow_id)` returns what is signed, or None after flashing why not; `message(signed, content,
    form)` is the update's input."""
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
        in_scope(db)
    form = form_class()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(run_id, anchor), None
    what = content(form, workflow_id)
    if what is None:
        return _back(run_id, anchor), None
    signed = _sign(run_id, step, what.sha256, form.security_password.data)
    if signed is None:
        return _back(run_id, anchor), None
    if what.store is not None:
        what.file_id = what.store()
    ok, _r, code = call_process(lambda: bridge().update(workflow_id, update, message(signed, what, form)),
                                PAYROLL_REFUSALS)
    if ok:
        flash(success, "success")
    return _back(run_id, anchor), code


def _step_input(run_id: int, signed: SignedStep, file_id: Optional[int] = None,
                batch_version: int = 0) -> SignedStepInput:
    """The update's input of a step that signs a file (wage table, signed sheet, wage file)."""
    return SignedStepInput(run_id=run_id, actor_id=current_user.id, step=signed.step,
                           content_sha256=signed.content_sha256, document=signed.document,
                           signature=signed.signature, signing_key_id=signed.signing_key_id,
                           file_id=file_id, batch_version=batch_version)


def _file_step(run_id: int) -> Callable[[SignedStep, Content, Any], SignedStepInput]:
    return lambda signed, what, _form: _step_input(run_id, signed, what.file_id, batch_version=what.batch_version)


def _upload(field, check, store) -> Optional[Content]:
    """An uploaded file after the upload guard (checked by content before anything is signed; stored
    only after the password was right), or None after flashing why it was refused."""
    limit = services().settings.upload_max_bytes
    try:
        data = read_upload(field.data, limit)
        check(data, limit)
    except UploadError as exc:
        flash(upload_message(str(exc)), "error")
        return None

    def stored() -> int:
        with services().Session.begin() as db:
            return store(db, data, limit).id
    return Content(hashlib.sha256(data).hexdigest(), store=stored)


@bp.route("/run/<int:run_id>/wage-table", methods=["POST"])
def submit_table(run_id: int):
    def content(form, _workflow_id):
        return _upload(form.table, check_xlsx,
                       lambda db, data, _limit: services().blobs.store(db, data, XLSX, f"wage-table-{run_id}.xlsx"))
    back, code = _signed_step(run_id, "step-wage-table", WageTableForm, Step.WAGE_TABLE, content,
                              WageRunWorkflow.submit_wage_table, _file_step(run_id),
                              _("The wage table was accepted."))
    if code == "WageTableInvalid":
        flash(_("An error report is ready for download on this page."), "info")
    return back


@bp.route("/run/<int:run_id>/signed-sheet", methods=["POST"])
def submit_sheet(run_id: int):
    def content(form, _workflow_id):
        return _upload(form.sheet, check_scan,
                       lambda db, data, limit: services().blobs.store_scan(db, data, limit, f"signed-sheet-{run_id}"))
    return _signed_step(run_id, "step-signed-sheet", SignedSheetForm, Step.SIGNED_SHEET, content,
                        WageRunWorkflow.submit_signed_sheet, _file_step(run_id),
                        _("The signed sheet was accepted and the wage file was built."))[0]


@bp.route("/run/<int:run_id>/wage-file", methods=["POST"])
def submit_wage_file(run_id: int):
    def content(form, workflow_id):
        """The current batch's wage file, as the process holds it: its plaintext hash is signed."""
        view = _query_status(workflow_id)
        batch = getattr(view, "batch", None) if view is not None else None
        if batch is None:
            flash(refusal_message("Unavailable"), "error")
            return None
        if batch.version != form.batch_version.data:
            flash(_refusal("StaleBatch"), "error")
            return None
        return Content(batch.plaintext_sha256, file_id=batch.file_id, batch_version=batch.version)
    return _signed_step(run_id, "step-wage-file", WageFileForm, Step.WAGE_FILE, content,
                        WageRunWorkflow.submit_bank_file, _file_step(run_id),
                        _("The wage file was sent to the bank."))[0]


@bp.route("/run/<int:run_id>/line/<int:line_id>/settle", methods=["POST"])
def settle(run_id: int, line_id: int):
    def in_scope(db):
        line = db.get(WageLine, line_id)
        if line is None or line.run_id != run_id:
            abort(404)

    def content(form, _workflow_id):
        reason = form.reason.data.strip()
        if not reason:
            flash(_("A reason is required."), "error")
            return None
        return Content(settle_sha256(line_id, reason))

    def message(signed: SignedStep, _what, form) -> SettleLineInput:
        return SettleLineInput(run_id=run_id, actor_id=current_user.id, line_id=line_id,
                               reason=form.reason.data.strip(), document=signed.document,
                               signature=signed.signature, signing_key_id=signed.signing_key_id)
    return _signed_step(run_id, "step-reconcile", SettleForm, Step.SETTLE, content, WageRunWorkflow.settle_line,
                        message, _("The line was marked as settled."), in_scope)[0]


@bp.route("/run/<int:run_id>/reissue", methods=["POST"])
def reissue(run_id: int):
    with services().Session() as db:
        workflow_id = _run_in_scope(db, run_id).workflow_id
    if not ReissueForm().validate_on_submit():
        return _back(run_id, "step-reconcile")
    ok, _r, _code = call_process(lambda: bridge().update(workflow_id, WageRunWorkflow.reissue_failed,
                                                         ReissueInput(current_user.id)), PAYROLL_REFUSALS)
    if ok:
        flash(_("A new wage file with the failed lines was built. Submit it in step 3."), "success")
    return _back(run_id, "step-wage-file")
