from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from domain import audit
from domain.models import Account
from domain.passwords import change_password, end_sessions, policy_problems, verify_password

from ..core import remote_addr, services
from ..i18n import LANGUAGES
from ..security import (
    WebUser,
    clear_session,
    home_for,
    is_safe_next,
    policy_message,
    rate_limit,
    renew_session,
    start_session,
)
from .forms import LoginForm, PasswordChangeForm
from .login import Outcome, attempt_login

bp = Blueprint("auth", __name__, template_folder="templates")


@bp.route("/login", methods=["GET", "POST"])
@rate_limit("login")
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_for(current_user))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        with services().Session.begin() as db:
            result = attempt_login(db, services().settings, form.username.data, form.password.data, remote_addr())
            user = WebUser(result.account) if result.account is not None else None
        if result.outcome == Outcome.OK:
            start_session(user)
            target = form.next.data or request.args.get("next")
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(target if is_safe_next(target) else home_for(user))
        if result.outcome == Outcome.LOCKED:
            flash(_("Too many failed attempts. Login is locked for %(minutes)s minutes.",
                    minutes=services().settings.lockout_window_minutes), "error")
        elif result.outcome == Outcome.INACTIVE:
            flash(_("This account is disabled."), "error")
        else:
            flash(_("Invalid username or password."), "error")
        form.password.data = ""
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Ends every session of the account, not just this browser's (ACC-5)."""
    with services().Session.begin() as db:
        account = db.get(Account, current_user.id)
        if account is not None:
            end_sessions(account)
        audit.record(db, actor_id=current_user.id, actor_name=current_user.username, action="auth.logout",
                     target_type="account", target_id=current_user.id, remote_addr=remote_addr())
    logout_user()
    clear_session()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@rate_limit("password")
def password():
    """Change the login password; the account's other sessions end, this one goes on."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        with services().Session.begin() as db:
            account = db.get(Account, current_user.id)
            problems = policy_problems(form.new_password.data, account.role, account.username)
            if not verify_password(account.password_hash, form.current_password.data):
                form.current_password.errors.append(_("The current password is wrong."))
            elif problems:
                form.new_password.errors.extend(policy_message(p) for p in problems)
            elif verify_password(account.password_hash, form.new_password.data):
                form.new_password.errors.append(_("The new password must differ from the current one."))
            else:
                change_password(account, form.new_password.data)
                renew_session(account.session_epoch)
                audit.record(db, actor_id=account.id, actor_name=account.username, action="auth.password_change",
                             target_type="account", target_id=account.id, remote_addr=remote_addr())
                flash(_("Your password has been changed."), "success")
                return redirect(home_for(current_user))
    return render_template("auth/password.html", form=form)


@bp.route("/lang/<code>")
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    target = request.args.get("next")
    return redirect(target if is_safe_next(target) else url_for("public.index"))
