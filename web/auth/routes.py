from __future__ import annotations

import base64
import binascii

from flask import Blueprint, abort, flash, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from domain import audit
from domain.models import Account, Role
from domain.passwords import change_password, end_sessions, policy_problems, verify_password
from domain.usb_key import KeyLoginRefusal
from domain.usb_key_login import (
    PURPOSE_LOGIN,
    PURPOSE_REGISTER,
    KeyLoginError,
    fingerprint,
    issue_challenge,
    new_binding,
    register_key,
    registered_key,
)

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
    verify_reauth,
)
from .forms import KeyLoginForm, LoginForm, PasswordChangeForm, UsbKeyRegistrationForm
from .login import Outcome, attempt_key_login, attempt_login
from .usb_key import agent_csp, agent_messages, agent_url, key_refusal_message

KEY_BINDING = "usb_key_binding"  # session key: the secret a USB-key challenge is bound to

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
        elif result.outcome == Outcome.KEY_REQUIRED:
            flash(_("This enterprise account logs in with its USB key only. Use \"Log in with the USB key\"."),
                  "error")
        else:
            flash(_("Invalid username or password."), "error")
        form.password.data = ""
    return _login_page(form, KeyLoginForm(formdata=None, prefix="key", next=form.next.data))


def _login_page(form: LoginForm, key_form: KeyLoginForm):
    return agent_csp(make_response(render_template("auth/login.html", form=form, key_form=key_form,
                                                   agent_url=agent_url(), agent_messages=agent_messages())))


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def _binding(create: bool = False):
    if create and not session.get(KEY_BINDING):
        session[KEY_BINDING] = new_binding()
    return session.get(KEY_BINDING)


@bp.route("/login/key/challenge", methods=["POST"])
@rate_limit("login")
def key_login_challenge():
    """A fresh login challenge for this browser session (JSON), for the USB key to sign."""
    with services().Session.begin() as db:
        challenge = issue_challenge(db, PURPOSE_LOGIN, _binding(create=True))
    return jsonify(challenge=base64.b64encode(challenge).decode("ascii"))


@bp.route("/login/key", methods=["POST"])
@rate_limit("login")
def key_login():
    """ACC-3: an enterprise logs in with the signature its USB key made of this session's challenge."""
    key_form = KeyLoginForm(prefix="key")
    if key_form.validate_on_submit():
        with services().Session.begin() as db:
            result = attempt_key_login(db, services().settings, key_form.username.data, _b64(key_form.challenge.data),
                                       _b64(key_form.signature.data), _binding(), remote_addr())
            user = WebUser(result.account) if result.account is not None else None
        if result.outcome == Outcome.OK:
            start_session(user)
            target = key_form.next.data
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(target if is_safe_next(target) else home_for(user))
        flash(key_refusal_message(result.refusal or KeyLoginRefusal.BAD_SIGNATURE), "error")
    return _login_page(LoginForm(formdata=None, next=key_form.next.data), key_form), 200


@bp.route("/account/usb-key", methods=["GET", "POST"])
@login_required
@rate_limit("password")
def usb_key():
    """ACC-3: the enterprise registers (or replaces) its USB key: its login password again, and a
    registration challenge signed by the key (proof that the key is in the user's hands)."""
    if current_user.role != Role.ENTERPRISE:
        abort(403)
    form = UsbKeyRegistrationForm()
    if form.validate_on_submit() and verify_reauth(form.password.data, "usb_key"):
        try:
            with services().Session.begin() as db:
                registration = register_key(db, db.get(Account, current_user.id), _b64(form.public_key.data),
                                            _b64(form.challenge.data), _b64(form.signature.data), _binding(),
                                            remote_addr())
                registered = fingerprint(registration.credential.public_key)
        except KeyLoginError as exc:
            flash(key_refusal_message(exc.code), "error")
        else:
            flash(_("The USB key %(fingerprint)s is registered. From now on this account logs in with the key.",
                    fingerprint=registered), "success")
            return redirect(url_for("auth.usb_key"))
    if not current_user.is_authenticated:  # a re-authentication lockout ended the session
        return redirect(url_for("auth.login"))
    with services().Session() as db:
        credential = registered_key(db, current_user.id)
        current = (fingerprint(credential.public_key), credential.registered_at) if credential else None
    form.password.data = ""
    return agent_csp(make_response(render_template("auth/usb_key.html", form=form, current=current,
                                                   agent_url=agent_url(), agent_messages=agent_messages())))


@bp.route("/account/usb-key/challenge", methods=["POST"])
@login_required
@rate_limit("password")
def usb_key_challenge():
    if current_user.role != Role.ENTERPRISE:
        abort(403)
    with services().Session.begin() as db:
        challenge = issue_challenge(db, PURPOSE_REGISTER, _binding(create=True), account_id=current_user.id)
    return jsonify(challenge=base64.b64encode(challenge).decode("ascii"))


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
