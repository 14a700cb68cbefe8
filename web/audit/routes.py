"""The auditor's pages (ACC-1 separation of duties, SEC-3): read the audit log, check its chain.

Read-only: no route here changes anything, and audit rows cannot be changed through the ORM at all
(domain/audit/writing.py refuses updates and deletes).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, render_template, request
from sqlalchemy import select

from domain import audit
from domain.models import AuditLog, Role

from ..core import services
from ..i18n import local_time
from ..security import require_roles

bp = Blueprint("audit", __name__, url_prefix="/audit", template_folder="templates")
PAGE = 200


@bp.before_request
def guard():
    return require_roles(Role.AUDITOR)


def _date(value: str):
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except (TypeError, ValueError):
        return None


@bp.route("/")
def log():
    action = (request.args.get("action") or "").strip()[:50]
    actor = (request.args.get("actor") or "").strip()[:100]
    since, until = _date(request.args.get("from")), _date(request.args.get("to"))
    before = request.args.get("before", type=int)
    q = select(AuditLog).order_by(AuditLog.id.desc()).limit(PAGE)
    if action:
        q = q.where(AuditLog.action.startswith(action, autoescape=True))
    if actor:
        q = q.where(AuditLog.actor_name == actor)
    if since:
        q = q.where(AuditLog.created_at >= since - timedelta(hours=8))  # dates are China dates
    if until:
        q = q.where(AuditLog.created_at < until + timedelta(days=1) - timedelta(hours=8))
    if before:
        q = q.where(AuditLog.id < before)
    with services().Session() as db:
        rows = [{"id": r.id, "at": local_time(r.created_at, "%Y-%m-%d %H:%M:%S"), "actor": r.actor_name,
                 "action": r.action, "target": f"{r.target_type} {r.target_id}", "key": r.business_key or "",
                 "reason": r.reason or "", "detail": r.detail or "", "addr": r.remote_addr or ""}
                for r in db.scalars(q)]
    filters = {"action": action, "actor": actor, "from": request.args.get("from", ""), "to": request.args.get("to", "")}
    more = rows[-1]["id"] if len(rows) == PAGE else None
    return render_template("audit/log.html", rows=rows, filters=filters, more=more)


@bp.route("/verify")
def verify():
    with services().Session() as db:
        report = audit.verify(db, services().settings.audit_key)
    return render_template("audit/verify.html", report=report)
