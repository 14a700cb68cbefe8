"""Anti-fraud flags (BEY-9) on the `attendance` blueprint: a project's flags of a month for the
specialist, and the number of each kind per project in the caller's scope (domain/fraud.py)."""
from __future__ import annotations

from flask import abort, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from domain import fraud
from domain.fraud_rules import FlagKind
from domain.models import Project, Worker

from ..core import services
from ..scoping import get_or_404
from .routes import bp
from .statistics import _month, readers_only

KIND_LABELS = {
    FlagKind.SAME_FACE_ELSEWHERE: _l("The same face on another project the same day"),
    FlagKind.AFTER_EXIT: _l("Punch after the worker's exit"),
    FlagKind.CORRECTION_RATIO: _l("The team's correction ratio is over the threshold"),
    FlagKind.LOW_MATCH: _l("Low face-match score"),
    FlagKind.ALTERED_PHOTO: _l("The photo was altered after it was recorded"),
}
PROJECTS_LIMIT = 50


@bp.route("/project/<int:project_id>/flags")
@readers_only
def flags(project_id: int):
    month = _month()
    settings = services().settings
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        found = fraud.project_flags(db, services().blobs, project.id, month, fraud.thresholds_of(settings))
        names = dict(db.execute(select(Worker.id, Worker.name).where(
            Worker.id.in_({f.worker_id for f in found if f.worker_id}))).all())
    # a company account sees its own workers' flags only (the scoping rule hides the others' names)
    shown = [f for f in found if f.worker_id is None or f.worker_id in names]
    rows = [{"kind": f.kind, "label": KIND_LABELS[f.kind], "worker": names.get(f.worker_id, ""), "day": f.day,
             "team": f.team, "value": f.value, "punch_id": f.punch_id,
             "show_value": f.value is not None and f.kind != FlagKind.SAME_FACE_ELSEWHERE} for f in shown]
    counts = {kind: sum(1 for f in shown if f.kind == kind) for kind in FlagKind}
    return render_template("attendance/flags.html", project=project, month=month, rows=rows, counts=counts,
                           labels=KIND_LABELS, thresholds=fraud.thresholds_of(settings))


@bp.route("/flags")
@readers_only
def flag_counts():
    month = _month()
    with services().Session() as db:
        projects = list(db.scalars(select(Project).order_by(Project.code).limit(PROJECTS_LIMIT)))
        if not projects:
            abort(404)
        counts = fraud.flag_counts(db, services().blobs, [p.id for p in projects], month,
                                   fraud.thresholds_of(services().settings))
    return render_template("attendance/flag_counts.html", projects=projects, month=month, counts=counts,
                           labels=KIND_LABELS)
