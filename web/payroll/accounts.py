"""Payroll specialist: binding the project's wage special account (PAY-2).

Thin views on the payroll blueprint: the security password is verified here (a wrong one counts
toward the lockout) before anything is written; the domain writes the `binding` row; the process
(WageAccountBindingWorkflow) asks the bank and waits for the signed acceptance of the agreement.
Scope: the specialist's own project; another project's account is a 404.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Optional

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from domain import signing
from domain import wage_account as wa
from domain.models import Account, Project, WageAccount
from domain.processes.account_binding import (
    AGREEMENT_VERSION,
    AcceptAgreementInput,
    AccountStatus,
    BindingInput,
    BindingStatus,
    Refusal,
    UnboundReason,
    agreement_document,
)
from workflows.account_binding import WageAccountBindingWorkflow

from ..core import bridge, call_process, remote_addr, services
from ..refusals import ACCEPT_REFUSALS, PAYROLL_REFUSALS
from ..scoping import get_or_404, record_denied
from ..security import rate_limit, verify_reauth
from ..formutil import choices, flash_form_problem
from .forms import PASSWORD_MAX, REQUIRED
from .routes import bp, security_password_message

log = logging.getLogger("shiming.web.payroll")

BANK_LABELS = {"REFBANK": _l("Reference bank (test)")}

ACCOUNT_STATUS = {
    AccountStatus.BINDING: _l("Being bound"),
    AccountStatus.BOUND: _l("Bound"),
    AccountStatus.REFUSED: _l("Refused by the bank"),
    AccountStatus.UNBOUND: _l("Not bound"),
}

PROCESS_STATUS = {
    BindingStatus.VALIDATING: _l("The bank is checking the account."),
    BindingStatus.AWAITING_AGREEMENT: _l("The bank confirmed the account. Read and accept the agreement."),
    BindingStatus.BOUND: _l("Bound"),
    BindingStatus.REFUSED: _l("Refused by the bank"),
    BindingStatus.EXPIRED: _l("The agreement was not accepted in time."),
}

REFUSAL_REASONS = {
    "NOT_FOUND": _l("The bank has no account with this number."),
    "NAME_MISMATCH": _l("The account name does not match the bank's records."),
    "NOT_WAGE_ACCOUNT": _l("The account is not a wage special account."),
    "CLOSED": _l("The account is closed."),
    UnboundReason.EXPIRED: _l("The agreement was not accepted within 7 days. Add the account again."),
}

START_ERRORS = {
    Refusal.BAD_BANK: _l("Choose a bank from the list."),
    Refusal.BAD_ACCOUNT_NUMBER: _l("Not a valid account number: 4 to 40 digits, letters or hyphens."),
    Refusal.BAD_ACCOUNT_NAME: _l("Enter the account name exactly as the bank knows it."),
    Refusal.ACCOUNT_EXISTS: _l("The project already has a wage account that is bound or being bound."),
    Refusal.NO_PROJECT: _l("Your account belongs to no project."),
}



class AddAccountForm(FlaskForm):
    # ACC-5: the login password again before a wage account changes (re-authentication)
    login_password = PasswordField(_l("Login password"), validators=[DataRequired(REQUIRED), Length(max=PASSWORD_MAX)])
    security_password = PasswordField(_l("Security password"), validators=[DataRequired(REQUIRED),
                                                                           Length(max=PASSWORD_MAX)])
    bank_code = SelectField(_l("Bank"), choices=choices((code, BANK_LABELS[code]) for code in wa.BANK_CODES),
                            validators=[DataRequired(REQUIRED)])
    account_number = StringField(_l("Account number"), validators=[DataRequired(REQUIRED), Length(max=60)])
    account_name = StringField(_l("Account name"), validators=[DataRequired(REQUIRED),
                                                               Length(max=wa.ACCOUNT_NAME_MAX)])


class AcceptAgreementForm(FlaskForm):
    security_password = PasswordField(_l("Security password"), validators=[DataRequired(REQUIRED),
                                                                           Length(max=PASSWORD_MAX)])


class RestartForm(FlaskForm):
    pass


def _label(table: dict, code: Optional[str]) -> str:
    value = table.get(code or "")
    return str(value) if value is not None else (code or "")


def refusal_text(reason: Optional[str]) -> str:
    """The translated why of a refusal (`CODE: bank reason` or EXPIRED); the raw text if unknown."""
    if not reason:
        return ""
    code = reason.split(":", 1)[0].strip()
    return str(REFUSAL_REASONS[code]) if code in REFUSAL_REASONS else reason


def _account_in_scope(db, account_id: int) -> WageAccount:
    """The wage account, if of the specialist's own project (domain/scope.py); else 404, audited."""
    account = get_or_404(db, WageAccount, account_id)
    if account.project_id != current_user.project_id:  # in scope (an allocated project) but not its own
        record_denied(WageAccount.__tablename__, account_id)
        abort(404)
    return account


def _row(account: WageAccount) -> dict:
    return {"id": account.id, "bank": _label(BANK_LABELS, account.bank_code),
            "number": wa.mask_account_number(account.account_last4), "name": account.account_name,
            "status": account.status, "status_label": _label(ACCOUNT_STATUS, account.status),
            "reason": refusal_text(account.refusal_reason),
            "created_at": account.created_at, "accepted_at": account.agreement_accepted_at}


# ---- list and add --------------------------------------------------------------------------------


@bp.route("/accounts")
def accounts():
    return _render_accounts(AddAccountForm(formdata=None))


def _render_accounts(form: AddAccountForm, status: int = 200):
    with services().Session() as db:
        project = db.get(Project, current_user.project_id) if current_user.project_id else None
        rows = []
        if project is not None:
            rows = [_row(a) for a in db.scalars(select(WageAccount).where(WageAccount.project_id == project.id)
                                                .order_by(WageAccount.id.desc()))]
        can_add = project is not None and wa.active_account(db, project.id) is None
        has_key = signing.current_key(db, current_user.id) is not None
    return render_template("payroll/accounts.html", rows=rows, form=form, can_add=can_add, has_key=has_key,
                           project_name=project.name if project else ""), status


@bp.route("/accounts/add", methods=["POST"])
@rate_limit("card_binding")
def add_account():
    form = AddAccountForm()
    if not form.validate_on_submit():
        return _render_accounts(form, 422)
    if current_user.project_id is None:
        abort(404)
    if not verify_reauth(form.login_password.data, "wage_account"):
        if not current_user.is_authenticated:  # the wrong password locked the account: its sessions ended
            return redirect(url_for("auth.login"))
        return _render_accounts(form, 422)
    try:  # before any write: the attempt is counted in its own transaction (SQLite write lock)
        signing.unlock(services().Session, current_user.id, form.security_password.data, remote_addr=remote_addr())
    except signing.SecurityPasswordError as exc:
        flash(security_password_message(exc), "error")
        return _render_accounts(form, 422)
    try:
        with services().Session.begin() as db:
            row = wa.start_binding(db, services().cipher, project_id=current_user.project_id,
                                   actor=db.get(Account, current_user.id), bank_code=form.bank_code.data,
                                   account_number=form.account_number.data, account_name=form.account_name.data,
                                   remote_addr=remote_addr())
            account_id, workflow_id = row.id, row.workflow_id
    except wa.WageAccountError as exc:
        flash(_label(START_ERRORS, exc.code), "error")
        return _render_accounts(form, 422)
    if _start(account_id, workflow_id):
        flash(_("The account was sent to the bank for checking."), "success")
    return redirect(url_for("payroll.account", account_id=account_id))


def _start(account_id: int, workflow_id: str) -> bool:
    """Start the binding's process; one already running under that id counts as started."""
    queue = bridge().task_queue

    async def start(client):
        try:
            await client.start_workflow(WageAccountBindingWorkflow.run, BindingInput(account_id),
                                        id=workflow_id, task_queue=queue)
        except WorkflowAlreadyStartedError:
            pass

    ok, _r, _code = call_process(lambda: bridge().run(start), PAYROLL_REFUSALS)
    return ok


@bp.route("/accounts/<int:account_id>/start", methods=["POST"])
def restart_account_binding(account_id: int):
    """Start the process again when adding the account stored it but could not reach the engine."""
    with services().Session() as db:
        account = _account_in_scope(db, account_id)
        workflow_id, status = account.workflow_id, account.status
    if RestartForm().validate_on_submit() and status == AccountStatus.BINDING and _start(account_id, workflow_id):
        flash(_("The binding process was started."), "success")
    return redirect(url_for("payroll.account", account_id=account_id))


# ---- one account and its agreement ---------------------------------------------------------------


def _process_status(workflow_id: str):
    try:
        return bridge().run(lambda c: c.get_workflow_handle(workflow_id).query(WageAccountBindingWorkflow.status),
                            timeout=10)
    except Exception:  # noqa: BLE001 - the page still shows the database's view
        log.info("wage account %s: status query failed", workflow_id, exc_info=True)
        return None


@bp.route("/accounts/<int:account_id>")
def account(account_id: int):
    return _render_account(account_id, AcceptAgreementForm(formdata=None))


def _render_account(account_id: int, form: AcceptAgreementForm, status: int = 200):
    with services().Session() as db:
        row = _account_in_scope(db, account_id)
        info, workflow_id = _row(row), row.workflow_id
        bound_by = db.get(Account, row.bound_by) if row.bound_by else None
        info["bound_by"] = (bound_by.display_name or bound_by.username) if bound_by else ""
    view = _process_status(workflow_id) if info["status"] == AccountStatus.BINDING else None
    process_status = getattr(view, "status", None)
    return render_template(
        "payroll/accounts_agreement.html", account=info, form=form, restart_form=RestartForm(formdata=None),
        process_status=process_status, process_label=_label(PROCESS_STATUS, process_status),
        awaiting=process_status == BindingStatus.AWAITING_AGREEMENT,
        unreachable=info["status"] == AccountStatus.BINDING and view is None,
        agreement_version=AGREEMENT_VERSION), status


@bp.route("/accounts/<int:account_id>/accept", methods=["POST"])
def accept_agreement(account_id: int):
    with services().Session() as db:
        row = _account_in_scope(db, account_id)
        workflow_id, status = row.workflow_id, row.status
    form = AcceptAgreementForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return redirect(url_for("payroll.account", account_id=account_id))
    if status != AccountStatus.BINDING:
        flash(str(ACCEPT_REFUSALS[Refusal.NOT_AWAITING_AGREEMENT]), "error")
        return redirect(url_for("payroll.account", account_id=account_id))
    try:
        key = signing.unlock(services().Session, current_user.id, form.security_password.data,
                             remote_addr=remote_addr())
    except signing.SecurityPasswordError as exc:
        flash(security_password_message(exc), "error")
        return redirect(url_for("payroll.account", account_id=account_id))
    document = agreement_document(wage_account_id=account_id, actor_id=current_user.id,
                                     accepted_at=datetime.now(timezone.utc))
    inp = AcceptAgreementInput(wage_account_id=account_id, actor_id=current_user.id, document=document,
                               signature=signing.sign(key, document), signing_key_id=key.key_id)
    ok, _code = _call_accept(workflow_id, inp)
    if ok:
        flash(_("The agreement was accepted: the wage account is bound."), "success")
    return redirect(url_for("payroll.account", account_id=account_id))


def _call_accept(workflow_id: str, inp: AcceptAgreementInput) -> tuple[bool, Optional[str]]:
    """Send the signed acceptance; a refusal or an outage becomes a translated flash."""
    ok, _result, code = call_process(
        lambda: bridge().update(workflow_id, WageAccountBindingWorkflow.accept_agreement, inp),
        ACCEPT_REFUSALS, PAYROLL_REFUSALS)
    return ok, code
