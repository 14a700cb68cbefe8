"""Who may see what: Flask-Login wiring, role guards, idle timeout, forced password change,
safe redirects and the security headers (ACC-5, SEC-2)."""
from __future__ import annotations

import time
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, logout_user

from domain import audit
from domain.models import Account, Role

from .core import remote_addr, services

LAST_SEEN = "last_seen"  # session key: epoch seconds of the last request of a logged-in user
KEEP_ON_CLEAR = ("lang",)

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
        self._active = bool(account.is_active)

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
        if account is None or not account.is_active:
            return None
        return WebUser(account)


def clear_session() -> None:
    """Forget everything of the session except the language choice."""
    kept = {k: session[k] for k in KEEP_ON_CLEAR if k in session}
    session.clear()
    session.update(kept)


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
    if user.role in (Role.PROJECT, Role.ENTERPRISE):
        return url_for("project.home")
    if user.role == Role.PAYROLL_SPECIALIST:
        return url_for("payroll.home")
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


def _check_idle_timeout():
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = int(time.time())
    last = session.get(LAST_SEEN)
    limit = services().settings.session_idle_minutes * 60
    if isinstance(last, (int, float)) and now - last > limit:
        user_id, name = current_user.id, current_user.username
        with services().Session.begin() as db:
            audit.record(db, actor_id=user_id, actor_name=name, action="auth.session_timeout",
                         target_type="account", target_id=user_id, remote_addr=remote_addr())
        logout_user()
        clear_session()
        flash(_("Your session expired after a period of inactivity. Please log in again."), "info")
        if request.method == "GET" and request.endpoint not in (None, "auth.logout"):
            nxt = request.full_path if request.query_string else request.path
            return redirect(url_for("auth.login", next=nxt))
        return redirect(url_for("auth.login"))
    session[LAST_SEEN] = now
    return None


def _force_password_change():
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    if request.endpoint == "static" or request.endpoint in PASSWORD_CHANGE_EXEMPT:
        return None
    flash(_("Please change your initial password before continuing."), "info")
    return redirect(url_for("auth.password"))


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
    app.before_request(_check_idle_timeout)
    app.before_request(_force_password_change)
    app.after_request(_security_headers)
