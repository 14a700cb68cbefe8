"""Who may see what: Flask-Login wiring, role guards, session lifetime, forced password change,
re-authentication, rate limits, safe redirects and the security headers (ACC-5, SEC-2).

Sessions are Flask's signed cookies. At login the session is cleared and gets a fresh random
`sid`, the login time and the account's `session_epoch`. On every request a logged-in session
ends when the account is disabled (`is_active` or `can_login` false), when its epoch is older
than the account's (logout, disabling, a password change or a re-authentication lockout bump
it: every session of the account ends), after `session_absolute_hours` since the login, or
after `session_idle_minutes` without a request. docs/security.md has the reasons.
"""
from __future__ import annotations

import secrets
import time
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from domain import audit
from domain.models import Account, Role
from domain.password_policy import (
    LETTERS_AND_DIGITS,
    SAME_AS_USERNAME,
    TOO_COMMON,
    TOO_LONG,
    TOO_SHORT,
)

from .auth.login import ReauthResult, reauthenticate
from .core import remote_addr, services

LAST_SEEN = "last_seen"  # session key: epoch seconds of the last request of a logged-in user
LOGIN_AT = "login_at"  # session key: epoch seconds of the login (absolute timeout)
EPOCH = "epoch"  # session key: the account's session_epoch at login
SESSION_NONCE = "sid"  # session key: random per login, so a new login never reuses a session's content
USER_ID = "_user_id"  # Flask-Login's session key
KEEP_ON_CLEAR = ("lang",)

# Rate limits per client (the account when logged in, else the address), POST requests only.
# A view joins one with `@rate_limit(kind)`; app.config["SHIMING_RATE_LIMITS"] overrides them.
RATE_LIMITS = {
    "login": "20 per minute; 200 per hour",
    "password": "10 per minute; 50 per hour",  # password change or reset
    "card_binding": "5 per minute; 20 per hour",  # binding or changing a bank card / wage account
    "sms": "3 per minute; 20 per hour",  # sending an SMS code
}

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
# A scan (PDF/JPEG/PNG, checked by content, served with nosniff) is shown inline: a page policy
# with object-src 'none' would also block the browser's own PDF viewer.
SCAN_CSP = "frame-ancestors 'none'"

# Endpoints reachable while a password change is pending (besides static files).
PASSWORD_CHANGE_EXEMPT = {"auth.password", "auth.logout", "auth.set_language"}


class WebUser(UserMixin):
    """The logged-in account as the web layer sees it: a detached snapshot of `Account`."""

    def __init__(self, account: Account):
        self.id = account.id
        self.username = account.username
        self.display_name = account.display_name
        self.role = account.role
        self.district_id = account.district_id
        self.enterprise_id = account.enterprise_id
        self.project_id = account.project_id
        self.must_change_password = bool(account.must_change_password)
        self.session_epoch = account.session_epoch or 0
        self._active = bool(account.is_active) and bool(account.can_login)

    @property
    def is_active(self) -> bool:
        return self._active


def load_user(user_id: str) -> Optional[WebUser]:
    try:
        account_id = int(user_id)
    except (TypeError, ValueError):
        return None
    with services().Session() as session:
        account = session.get(Account, account_id)
        if account is None or not account.is_active or not account.can_login:
            return None
        return WebUser(account)


def clear_session() -> None:
    """Forget everything of the session except the language choice."""
    kept = {k: session[k] for k in KEEP_ON_CLEAR if k in session}
    session.clear()
    session.update(kept)


def start_session(user: WebUser) -> None:
    """Log `user` in on a fresh session: nothing of the session before the login survives
    (but the language), a new random `sid`, the login time and the account's session epoch."""
    clear_session()
    session[SESSION_NONCE] = secrets.token_urlsafe(32)
    login_user(user)
    now = int(time.time())
    session[LOGIN_AT] = now
    session[LAST_SEEN] = now
    session[EPOCH] = user.session_epoch


def renew_session(epoch: int) -> None:
    """After a password change: keep this session (with a new `sid`) at the account's new epoch."""
    session[SESSION_NONCE] = secrets.token_urlsafe(32)
    session[EPOCH] = epoch


def is_safe_next(target: Optional[str]) -> bool:
    """Only a path on this site: no scheme, no host, no `//host` or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return parts.netloc == "" and parts.scheme == ""


def home_for(user) -> str:
    if user.role == Role.ADMIN:
        return url_for("admin.processes")
    if user.role in Role.BUREAU:
        return url_for("bureau.inbox")
    if user.role in (Role.PROJECT, Role.ENTERPRISE, Role.SUPERVISOR):
        return url_for("project.home")
    if user.role == Role.PAYROLL_SPECIALIST:
        return url_for("payroll.home")
    if user.role == Role.SECURITY_ADMIN:
        return url_for("accounts.home")
    if user.role == Role.COMPANY:
        return url_for("project.workers")
    if user.role == Role.AUDITOR:
        return url_for("audit.log")
    return url_for("public.index")


def require_roles(*roles: str):
    """For a blueprint's before_request: log in first (302), then the right role (403)."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role not in roles:
        abort(403)
    return None


def _unauthorized():
    flash(_("Please log in to continue."), "info")
    if request.method == "GET":
        nxt = request.full_path if request.query_string else request.path
        return redirect(url_for("auth.login", next=nxt))
    return redirect(url_for("auth.login"))


def _end_session(account_id, username: str, action: str, message: str):
    """Log out, audit why, and send the browser to the login page (back to this page after)."""
    with services().Session.begin() as db:
        audit.record(db, actor_id=account_id, actor_name=username, action=action,
                     target_type="account", target_id=account_id, remote_addr=remote_addr())
    logout_user()
    clear_session()
    flash(message, "info")
    if request.method == "GET" and request.endpoint not in (None, "auth.logout"):
        nxt = request.full_path if request.query_string else request.path
        return redirect(url_for("auth.login", next=nxt))
    return redirect(url_for("auth.login"))


def _check_session():
    """End a session whose account was disabled, whose epoch is stale, or that is too old or idle."""
    if request.endpoint == "static":
        return None
    if not current_user.is_authenticated:
        stale = session.get(USER_ID)
        if stale is None:
            return None
        try:
            stale_id = int(stale)
        except (TypeError, ValueError):
            stale_id = None
        with services().Session() as db:
            account = db.get(Account, stale_id) if stale_id is not None else None
            name = account.username if account is not None else f"#{stale}"
        return _end_session(stale_id, name, "auth.session_disabled", _("Your session has ended. Please log in again."))
    now = int(time.time())
    settings = services().settings
    user_id, name = current_user.id, current_user.username
    if EPOCH not in session:  # a session from before the epoch check existed: it joins the current epoch
        session[EPOCH] = current_user.session_epoch
    if session[EPOCH] != current_user.session_epoch:
        return _end_session(user_id, name, "auth.session_revoked", _("Your session has ended. Please log in again."))
    login_at = session.get(LOGIN_AT)
    if not isinstance(login_at, (int, float)):
        session[LOGIN_AT] = login_at = now  # a session from before this check existed: count from now
    if now - login_at > settings.session_absolute_hours * 3600:
        return _end_session(user_id, name, "auth.session_expired",
                            _("Your session reached its maximum length. Please log in again."))
    last = session.get(LAST_SEEN)
    if isinstance(last, (int, float)) and now - last > settings.session_idle_minutes * 60:
        return _end_session(user_id, name, "auth.session_timeout",
                            _("Your session expired after a period of inactivity. Please log in again."))
    session[LAST_SEEN] = now
    return None


def _force_password_change():
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    if request.endpoint == "static" or request.endpoint in PASSWORD_CHANGE_EXEMPT:
        return None
    flash(_("Please change your initial password before continuing."), "info")
    return redirect(url_for("auth.password"))


# ---- re-authentication and password messages -------------------------------------------------


def verify_reauth(password: str, purpose: str) -> bool:
    """Ask the logged-in user's login password again before a sensitive change (bank card, wage
    account). True when right; else False after flashing why. Wrong passwords count toward the
    login lockout (audited `auth.reauth_*`); a lockout ends every session of the account, this one
    included. `purpose` (e.g. "bank_card", "wage_account") is recorded in the audit."""
    if not current_user.is_authenticated:
        return False
    with services().Session.begin() as db:
        result = reauthenticate(db, services().settings, current_user.id, password or "", remote_addr(), purpose)
    if result.ok:
        return True
    if result.locked:
        logout_user()
        clear_session()
    flash(reauth_message(result), "error")
    return False


def reauth_message(result: ReauthResult) -> str:
    if result.locked:
        return _("Too many failed attempts. Login is locked for %(minutes)s minutes.",
                 minutes=services().settings.lockout_window_minutes)
    return _("The login password is wrong. %(count)s attempt(s) left before the account is locked.",
             count=result.remaining_attempts)


def policy_message(code: str) -> str:
    """The translated message of a `domain.password_policy` problem code."""
    if code == TOO_SHORT:
        return _("At least 8 characters.")  # MIN_LENGTH
    if code == TOO_LONG:
        return _("The password is too long.")
    if code == TOO_COMMON:
        return _("This password is too common: it is on the list of passwords attackers try first.")
    if code == SAME_AS_USERNAME:
        return _("The password must not be the user name.")
    if code == LETTERS_AND_DIGITS:
        return _("Use both letters and digits.")
    return _("The new password does not meet the password rules.")


# ---- rate limits ---------------------------------------------------------------------------------


def rate_limit(kind: str):
    """Mark a view as counting toward the `kind` rate limit (login, password, card_binding, sms).

    Only POST requests count; over the limit the client gets the 429 page. The limits are applied
    by `init_rate_limits` when the app is built, with that app's own Limiter."""
    if kind not in RATE_LIMITS:
        raise ValueError(f"unknown rate limit {kind!r}")

    def mark(view):
        view.shiming_rate_limit = kind
        return view

    return mark


def _rate_key() -> str:
    if current_user.is_authenticated:
        return f"account:{current_user.id}"
    return f"addr:{remote_addr()}"


def init_rate_limits(app: Flask) -> Limiter:
    """One Limiter per app (storage `settings.rate_limit_storage_uri`, in memory by default) over
    every registered view marked with `rate_limit`. Call after the blueprints are registered."""
    app.config.setdefault("SHIMING_RATE_LIMITS", {})
    limits = {**RATE_LIMITS, **app.config["SHIMING_RATE_LIMITS"]}
    app.config["SHIMING_RATE_LIMITS"] = limits
    storage = app.config.get("RATELIMIT_STORAGE_URI") or app.extensions["shiming"]["services"].settings.rate_limit_storage_uri
    limiter = Limiter(key_func=_rate_key, app=app, storage_uri=storage)
    for endpoint, view in list(app.view_functions.items()):
        kind = getattr(view, "shiming_rate_limit", None)
        if kind:
            app.view_functions[endpoint] = limiter.shared_limit(
                lambda kind=kind: current_app.config["SHIMING_RATE_LIMITS"][kind], scope=kind,
                methods=["POST"])(view)
    return limiter


# ---- headers -------------------------------------------------------------------------------------


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CSP)
    # registration links carry a secret: never send it to another site. (Same-origin referrers stay:
    # Flask-WTF's strict HTTPS check wants them on form posts.)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    manager = LoginManager()
    manager.init_app(app)
    manager.login_view = "auth.login"
    manager.login_message = _l("Please log in to continue.")
    manager.user_loader(load_user)
    manager.unauthorized_handler(_unauthorized)
    app.before_request(_check_session)
    app.before_request(_force_password_change)
    app.after_request(_security_headers)
