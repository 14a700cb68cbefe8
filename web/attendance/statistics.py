"""Attendance statistics (ATT-5, DASH-3) on the `attendance` blueprint: a project's month and day per
worker, team and company with the on-duty rate, the monthly report (.xlsx, .docx) and a day's photo
gallery. Every figure comes from domain.attendance_stats (days and hours: domain.attendance, the
wage table's prefill's source); corrections are shown apart. Scope: the project, and for a
subcontractor or labour company its own workers (domain/scope.py); outside it, 404."""
from __future__ import annotations

import functools
from datetime import date, timedelta

from flask import abort, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from domain import attendance_stats as stats
from domain.attendance import _local_midnight_utc, month_bounds
from domain.attendance_report import ReportLabels, rate_text, report_docx, report_xlsx
from domain.calendar import local_today, month_of
from domain.models import AttendanceDevice, Project, Punch, Role, StoredFile, Worker

from ..core import send_bytes, services
from ..scoping import get_or_404
from ..security import require_roles
from .routes import SELF_GUARDED, bp

READERS = (Role.PROJECT, Role.PAYROLL_SPECIALIST, Role.COMPANY, Role.ENTERPRISE, Role.BUREAU_REVIEWER,
           Role.BUREAU_CHIEF)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PHOTO_CSP = "default-src 'none'; img-src 'self'"


def readers_only(view):
    """The roles that read attendance, checked by the view itself (the blueprint's guard, which lets
    the project account only, leaves the views of SELF_GUARDED to them)."""
    SELF_GUARDED.add(f"{bp.name}.{view.__name__}")

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        refused = require_roles(*READERS)
        return refused if refused is not None else view(*args, **kwargs)

    return guarded


def _month() -> str:
    month = request.args.get("month") or month_of(local_today())
    try:
        month_bounds(month)
    except ValueError:
        abort(404)
    return month


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        abort(404)


def report_labels() -> ReportLabels:
    return ReportLabels(
        title=_("Attendance report"), workers=_("Workers"), teams=_("Teams"), companies=_("Companies"),
        rates=_("On-duty rate"), name=_("Name"), team=_("Team"), company=_("Company"),
        attended_workers=_("Workers attending"), days=_("Days"), hours=_("Hours worked"), punches=_("Device punches"),
        corrections=_("Approved corrections"), corrected_days=_("Days by correction only"), day=_("Day"),
        attended=_("Attended"), admitted=_("Admitted"), rate=_("On-duty rate"), total=_("Total"))


@bp.route("/project/<int:project_id>/statistics")
@readers_only
def statistics(project_id: int):
    month = _month()
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        figures = stats.monthly(db, project.id, month)
    return render_template("attendance/statistics_month.html", project=project, month=month, stats=figures,
                           labels=report_labels(), rate_text=rate_text)


@bp.route("/project/<int:project_id>/statistics/<day>")
@readers_only
def statistics_day(project_id: int, day: str):
    on = _day(day)
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        figures = stats.daily(db, project.id, on)
    return render_template("attendance/statistics_day.html", project=project, day=on, month=month_of(on),
                           stats=figures, labels=report_labels(), rate_text=rate_text)


@bp.route("/project/<int:project_id>/statistics/report.<any(xlsx, docx):kind>")
@readers_only
def statistics_report(project_id: int, kind: str):
    month = _month()
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        figures = stats.monthly(db, project.id, month)
    name = _("Attendance report %(code)s %(month)s", code=project.code, month=month)
    if kind == "xlsx":
        return send_bytes(report_xlsx(figures, report_labels()), f"{name}.xlsx", XLSX)
    return send_bytes(report_docx(figures, report_labels()), f"{name}.docx", DOCX)


@bp.route("/project/<int:project_id>/photos/<day>")
@readers_only
def gallery(project_id: int, day: str):
    """The day's punches that carry a photo (watermarked at the device: time, project, device, worker)."""
    on = _day(day)
    start, end = _local_midnight_utc(on), _local_midnight_utc(on + timedelta(days=1))
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        rows = db.execute(
            select(Punch.id, Punch.punched_at, Punch.direction, Punch.match_score, Worker.name,
                   AttendanceDevice.serial)
            .join(Worker, Worker.id == Punch.worker_id)
            .outerjoin(AttendanceDevice, AttendanceDevice.id == Punch.device_id)
            .where(Punch.project_id == project.id, Punch.punched_at >= start, Punch.punched_at < end,
                   Punch.photo_file_id.is_not(None))
            .order_by(Punch.punched_at, Punch.id)).all()
    photos = [{"id": pid, "at": at, "direction": direction, "score": score, "worker": name, "device": serial or ""}
              for pid, at, direction, score, name, serial in rows]
    return render_template("attendance/statistics_photos.html", project=project, day=on, photos=photos)


@bp.route("/photo/<int:punch_id>")
@readers_only
def photo(punch_id: int):
    with services().Session() as db:
        punch = get_or_404(db, Punch, punch_id)
        if punch.photo_file_id is None or db.get(Worker, punch.worker_id) is None:
            abort(404)  # no photo, or a worker outside a company account's scope
        stored = db.get(StoredFile, punch.photo_file_id)
        try:
            data = services().blobs.path_for(stored.sha256).read_bytes()
        except OSError:
            abort(404)
    return send_bytes(data, f"punch-{punch_id}.jpg", stored.content_type or "image/jpeg", inline=True,
                      csp=PHOTO_CSP)
