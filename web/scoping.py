"""The caller's scope for the whole request (domain/scope.py holds the rule itself).

Every request of a logged-in account runs with that account's scope active, so every ORM read of
every view — lists, details, downloads, exports — is filtered in the query layer. Views fetch a
single record with `get_or_404`: out of scope it answers 404 exactly like a missing record, and the
attempt is audited (in its own transaction, so the 404 does not roll it back).
"""
from __future__ import annotations

from flask import Flask, abort, g, request
from flask_login import current_user

from domain import audit, scope
from domain.models import Account

from .core import services

_TOKEN = "shiming_scope_token"


def caller_scope() -> scope.Scope | None:
    return g.get("shiming_scope")


def _activate() -> None:
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    with services().Session() as db:
        account = db.get(Account, current_user.id)
        caller = scope.scope_of(db, account) if account is not None else scope.Scope(scope.NONE)
    g.shiming_scope = caller
    scope.activate(caller)


def _deactivate(_exc=None) -> None:
    scope.activate(None)  # the request's context ends here; never leak a scope into the next one


def get_or_404(db, model, ident):
    """The record if it exists and is in the caller's scope; otherwise 404 (out of scope: audited)."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    row = db.get(model, ident)
    if row is not None:
        return row
    if current_user.is_authenticated and scope.exists_unscoped(db, model, ident):
        record_denied(model.__tablename__, ident)
    abort(404)


def record_denied(target_type: str, target_id) -> None:
    with services().Session.begin() as db:
        audit.record(db, actor_id=current_user.id, actor_name=current_user.display_name,
                     action="access.out_of_scope", target_type=target_type, target_id=target_id,
                     detail={"path": request.path[:200], "method": request.method},
                     remote_addr=(request.remote_addr or "")[:64])


def init_app(app: Flask) -> None:
    app.before_request(_activate)
    app.teardown_request(_deactivate)
