"""Flask web layer: the app factory. No app is created at import time.

`create_app(services, bridge, config)` wires the blueprints (one per audience), Flask-Login,
CSRF protection, Flask-Babel (zh_CN by default, English available), the security headers and
the rate limits (Flask-Limiter, one Limiter per app).
Services and the Temporal bridge are built by the composition root (`shiming/webapp.py`; tests
build their own) and passed in: this package imports nothing from `shiming`. They live in
`app.extensions["shiming"]` (a dict with the keys "services" and "bridge").
"""
from __future__ import annotations

from typing import Optional

from flask import Flask, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from domain.processes.account_binding import AccountStatus
from domain.processes.registration import RegistrationStatus
from domain.processes.wage_run import BatchStatus, Step, WageLineStatus, WageRunStatus
from domain.processes.worker_exit import EngagementStatus
from domain.services import Services

from . import scoping, security
from .admin.routes import bp as admin_bp
from .api.routes import bp as api_bp
from .attendance.routes import bp as attendance_bp
from .attendance_api.routes import bp as attendance_api_bp
from .auth.routes import bp as auth_bp
from .accounts.routes import bp as accounts_bp
from .audit.routes import bp as audit_bp
from .bureau.routes import bp as bureau_bp
from .enrolment.routes import bp as enrolment_bp
from .enterprise.routes import bp as enterprise_bp
from .i18n import (
    DEFAULT_LOCALE,
    LANGUAGE_NAMES,
    LANGUAGES,
    TRANSLATIONS_DIR,
    WebBabel,
    local_time,
    role_label,
    select_locale,
)
from .payroll.routes import bp as payroll_bp
from .project.routes import bp as project_bp
from .public.routes import bp as public_bp
from .temporal_bridge import TemporalBridge

# Room for the multipart envelope and the other form fields around an upload of the maximum size;
# an upload between upload_max_bytes and this limit is refused by the blob store with a message.
UPLOAD_OVERHEAD = 256 * 1024
ERROR_PAGES = (403, 404, 405, 413, 429, 500)


def create_app(services: Services, bridge: TemporalBridge, config: Optional[dict] = None) -> Flask:
    settings = services.settings
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.upload_max_bytes + UPLOAD_OVERHEAD,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production or settings.public_url.startswith("https://"),
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR),
    )
    if config:
        app.config.update(config)
    app.extensions["shiming"] = {"services": services, "bridge": bridge}

    WebBabel(app, locale_selector=select_locale)
    csrf = CSRFProtect(app)  # registered first: its check runs before every other before_request hook
    security.init_app(app)
    scoping.init_app(app)  # ACC-2: the caller's scope filters every read of the request
    csrf.exempt(api_bp)  # signed by the bank, not a browser form
    csrf.exempt(attendance_api_bp)  # signed by each device with its own secret, not a browser form
    for blueprint in (auth_bp, public_bp, bureau_bp, project_bp, enterprise_bp, payroll_bp, admin_bp, accounts_bp, audit_bp, api_bp,
                      enrolment_bp, attendance_bp, attendance_api_bp):
        app.register_blueprint(blueprint)
    security.init_rate_limits(app)  # after the blueprints: it wraps the views marked with @rate_limit
    _register_error_pages(app)
    app.add_template_filter(local_time, "localtime")
    # templates compare statuses with the processes' vocabulary, never with literals
    app.jinja_env.globals.update(RegistrationStatus=RegistrationStatus, AccountStatus=AccountStatus,
                                 EngagementStatus=EngagementStatus, WageRunStatus=WageRunStatus,
                                 WageLineStatus=WageLineStatus, BatchStatus=BatchStatus, Step=Step)
    app.context_processor(_layout_context)
    return app


def _register_error_pages(app: Flask) -> None:
    def page(code: int):
        def handler(_exc):
            return render_template(f"errors/{code}.html"), code

        return handler

    for code in ERROR_PAGES:
        app.register_error_handler(code, page(code))

    @app.errorhandler(CSRFError)
    def csrf_error(_exc):
        return render_template("errors/400.html"), 400


def _layout_context() -> dict:
    return {
        "languages": LANGUAGES,
        "language_names": LANGUAGE_NAMES,
        "current_locale": select_locale(),
        "current_path": request.full_path if request.query_string else request.path,
        "current_role_label": role_label(current_user.role) if current_user.is_authenticated else "",
    }
