"""User management (ACC-1, ACC-2, ACC-4): each manager sees and changes only the accounts it manages.

The administrator initialises supervisory, bureau and enterprise accounts (ACC-6: an enterprise
account links the projects of its general contractor's credit code); an enterprise allocates project
accounts and payroll specialists to its projects; a project account creates subcontractor and
labour-company accounts, and appoints its payroll specialists while its enterprise has no account; the security administrator enables, disables and unlocks any account.
The rules are in domain/accounts.py; an account outside the caller's management answers 404.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from domain import accounts as acc
from domain import usb_key_login
from domain.models import Account, Company, District, Enterprise, Project, Role

from ..core import remote_addr, services
from ..i18n import account_status, role_label
from ..scoping import record_denied
from ..security import rate_limit, require_roles
from .forms import CompanyPermissionsForm, CreateAccountForm, ProjectsForm, ReasonForm, UnlockForm

bp = Blueprint("accounts", __name__, url_prefix="/accounts", template_folder="templates")

MANAGERS = (Role.ADMIN, Role.SECURITY_ADMIN, Role.ENTERPRISE, Role.PROJECT)

ERRORS = {
    "role_not_allowed": _l("You cannot create accounts of this role."),
    "bad_username": _l("A user name has 3 to 64 lower-case letters, digits, dots, dashes or underscores."),
    "name_required": _l("A name is required."),
    "username_taken": _l("This user name is already taken."),
    "district_required": _l("Choose the district of a bureau account."),
    "unknown_enterprise": _l("Unknown enterprise."),
    "projects_required": _l("Choose at least one project."),
    "project_not_allowed": _l("You cannot allocate one of the chosen projects."),
    "one_project_only": _l("A payroll specialist works for exactly one project."),
    "company_not_allowed": _l("Choose a subcontractor or labour company of your project."),
    "reason_required": _l("A reason is required."),
    "not_found": _l("No such account."),
    "bad_credit_code": _l("Not a valid unified social credit code."),
    "enterprise_name_required": _l("No enterprise has this credit code yet: enter its name."),
}


@bp.before_request
def guard():
    return require_roles(*MANAGERS)


def _actor(db) -> Account:
    return db.get(Account, current_user.id)


def _error(code: str) -> str:
    return str(ERRORS.get(code, ERRORS["not_found"]))


def _choices(db, actor: Account, form: CreateAccountForm) -> None:
    form.role.choices = [(r, role_label(r)) for r in acc.creatable_roles(actor, db)]
    form.district_id.choices = [(0, "—")] + [(d.id, d.name) for d in db.scalars(select(District).order_by(District.code))]
    form.reviewer_enterprise_id.choices = [(0, "—")] + [
        (e.id, e.name) for e in db.scalars(select(Enterprise).order_by(Enterprise.name))] \
        if actor.role == Role.ADMIN else [(0, "—")]
    form.project_ids.choices = _project_choices(db, actor)
    form.company_id.choices = [(0, "—")] + [
        (c.id, c.name) for c in db.scalars(select(Company).where(
            Company.project_id == actor.project_id, Company.kind.in_(acc.COMPANY_KINDS)).order_by(Company.name))] \
        if actor.role == Role.PROJECT and actor.project_id else [(0, "—")]


def _project_choices(db, actor: Account, role: str | None = None) -> list[tuple[int, str]]:
    ids = acc.allocatable_projects(db, actor, role)
    if not ids:
        return []
    return [(p.id, f"{p.code} {p.name}") for p in db.scalars(select(Project).where(Project.id.in_(ids))
                                                               .order_by(Project.code))]


def _rows(db, accounts: list[Account]) -> list[dict]:
    names = {p.id: p.code for p in db.scalars(select(Project))}
    companies = {c.id: c.name for c in db.scalars(select(Company))}
    rows = []
    for a in accounts:
        projects = sorted(acc.enterprise_projects(db, a.enterprise_id) if a.role == Role.ENTERPRISE
                          else acc.account_projects(db, a))
        rows.append({"id": a.id, "username": a.username, "name": a.display_name, "role": role_label(a.role),
                     "role_code": a.role, "active": bool(a.is_active),
                     "status_label": account_status(bool(a.is_active)),
                     "projects": ", ".join(names.get(p, "—") for p in projects),
                     "company": companies.get(a.company_id, "") if a.company_id else "",
                     "can_collect": a.can_collect, "can_login": a.can_login,
                     "can_allocate": a.can_allocate_projects})
    return rows


def _render_home(form: CreateAccountForm | None = None, status: int = 200):
    with services().Session() as db:
        actor = _actor(db)
        rows = _rows(db, acc.managed_accounts(db, actor))
        can_create = bool(acc.creatable_roles(actor, db))
        if can_create:
            form = form or CreateAccountForm(formdata=None)
            _choices(db, actor, form)
    return render_template("accounts/home.html", rows=rows, form=form if can_create else None), status


@bp.route("/")
def home():
    return _render_home()


@bp.route("/new", methods=["POST"])
def create():
    form = CreateAccountForm()
    with services().Session() as db:
        actor = _actor(db)
        if not acc.creatable_roles(actor, db):
            abort(403)
        _choices(db, actor, form)
    if not form.validate_on_submit():
        return _render_home(form, 422)
    new = acc.NewAccount(
        username=form.username.data, display_name=form.display_name.data, role=form.role.data,
        district_id=form.district_id.data or None, project_ids=form.project_ids.data or [],
        company_id=form.company_id.data or None, can_collect=form.can_collect.data, can_login=form.can_login.data,
        can_allocate_projects=form.can_allocate_projects.data,
        reviewer_enterprise_id=form.reviewer_enterprise_id.data or None,
        enterprise_name=form.enterprise_name.data or "", enterprise_credit_code=form.enterprise_credit_code.data or "")
    try:
        with services().Session.begin() as db:
            account, password = acc.create_account(db, _actor(db), new, remote_addr())
            created = {"id": account.id, "username": account.username, "role": role_label(account.role)}
    except acc.AccountError as exc:
        flash(_error(exc.code), "error")
        return _render_home(form, 422)
    # the initial password is shown here once, never stored in the session or a flash message
    return render_template("accounts/created.html", created=created, password=password)


def _managed_or_404(db, account_id: int) -> Account:
    target = db.get(Account, account_id)
    if target is None or not acc.manages(db, _actor(db), target):
        if target is not None:
            record_denied("account", account_id)
        abort(404)
    return target


@bp.route("/<int:account_id>")
def detail(account_id: int):
    with services().Session() as db:
        actor = _actor(db)
        target = _managed_or_404(db, account_id)
        [row] = _rows(db, [target])
        projects_form = None
        if target.role in (Role.PROJECT, Role.PAYROLL_SPECIALIST) and acc.allocatable_projects(db, actor, target.role):
            projects_form = ProjectsForm(formdata=None, data={"project_ids": sorted(acc.account_projects(db, target))})
            projects_form.project_ids.choices = _project_choices(db, actor, target.role)
        permissions_form = CompanyPermissionsForm(formdata=None, data={
            "can_collect": target.can_collect, "can_login": target.can_login}) if target.role == Role.COMPANY else None
        unlock_form = UnlockForm(formdata=None) if actor.role == Role.SECURITY_ADMIN else None
        credential = usb_key_login.registered_key(db, target.id) if actor.role == Role.SECURITY_ADMIN else None
        usb_key = usb_key_login.fingerprint(credential.public_key) if credential is not None else None
    return render_template("accounts/detail.html", row=row, projects_form=projects_form,
                           permissions_form=permissions_form, reason_form=ReasonForm(formdata=None),
                           unlock_form=unlock_form, usb_key=usb_key,
                           usb_key_form=ReasonForm(formdata=None, prefix="usb-key"))


def _change(account_id: int, change, done: str):
    try:
        with services().Session.begin() as db:
            _managed_or_404(db, account_id)
            change(db, _actor(db))
    except acc.AccountError as exc:
        flash(_error(exc.code), "error")
        return redirect(url_for("accounts.detail", account_id=account_id))
    flash(done, "success")
    return redirect(url_for("accounts.detail", account_id=account_id))


@bp.route("/<int:account_id>/projects", methods=["POST"])
def projects(account_id: int):
    form = ProjectsForm()
    with services().Session() as db:
        target = _managed_or_404(db, account_id)
        form.project_ids.choices = _project_choices(db, _actor(db), target.role)
    if not form.validate_on_submit():
        flash(_error("project_not_allowed"), "error")
        return redirect(url_for("accounts.detail", account_id=account_id))
    return _change(account_id, lambda db, actor: acc.set_projects(db, actor, account_id, form.project_ids.data or [],
                                                                   remote_addr()),
                   _("The projects of the account were saved."))


@bp.route("/<int:account_id>/permissions", methods=["POST"])
def permissions(account_id: int):
    form = CompanyPermissionsForm()
    if not form.validate_on_submit():
        abort(400)
    return _change(account_id, lambda db, actor: acc.set_company_permissions(
        db, actor, account_id, can_collect=form.can_collect.data, can_login=form.can_login.data,
        remote_addr=remote_addr()), _("The permissions were saved."))


@bp.route("/<int:account_id>/<any(disable, enable):change>", methods=["POST"])
def set_active(account_id: int, change: str):
    form = ReasonForm()
    if not form.validate_on_submit():
        with services().Session() as db:
            _managed_or_404(db, account_id)
        flash(_error("reason_required"), "error")
        return redirect(url_for("accounts.detail", account_id=account_id))
    return _change(account_id, lambda db, actor: acc.set_active(db, actor, account_id, change == "enable",
                                                                 form.reason.data, remote_addr()),
                   _("The account was enabled.") if change == "enable" else
                   _("The account was disabled; its sessions have ended."))


@bp.route("/<int:account_id>/reset-password", methods=["POST"])
@rate_limit("password")
def reset_password(account_id: int):
    if not UnlockForm().validate_on_submit():
        abort(400)
    with services().Session.begin() as db:
        target = _managed_or_404(db, account_id)
        password = acc.reset_password(db, _actor(db), account_id, remote_addr())
        created = {"id": target.id, "username": target.username, "role": role_label(target.role)}
    return render_template("accounts/created.html", created=created, password=password, reset=True)


@bp.route("/<int:account_id>/unlock", methods=["POST"])
def unlock(account_id: int):
    if current_user.role != Role.SECURITY_ADMIN or not UnlockForm().validate_on_submit():
        abort(403)
    return _change(account_id, lambda db, actor: acc.unlock(db, actor, account_id, remote_addr()),
                   _("The login lockout was lifted."))


@bp.route("/<int:account_id>/usb-key/remove", methods=["POST"])
def remove_usb_key(account_id: int):
    """ACC-3: the security administrator removes a lost USB key, with a reason (audited)."""
    if current_user.role != Role.SECURITY_ADMIN:
        abort(403)
    form = ReasonForm(prefix="usb-key")
    with services().Session.begin() as db:
        target = _managed_or_404(db, account_id)
        if not form.validate_on_submit():
            flash(_error("reason_required"), "error")
            return redirect(url_for("accounts.detail", account_id=account_id))
        usb_key_login.remove_key(db, _actor(db), target, form.reason.data, remote_addr())
    flash(_("The USB key was removed. The account logs in with its password until it registers a new key."),
          "success")
    return redirect(url_for("accounts.detail", account_id=account_id))
