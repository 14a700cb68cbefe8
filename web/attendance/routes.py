"""The devices page of a project (issue 11 point 1). Records are fetched through the one scoping
rule (web/scoping.get_or_404, domain/scope.py): a project, device or quarantined punch outside the
caller's scope is a 404 like a missing one, audited. Register, revoke and resolve are audited by
domain/attendance_devices.py in the same transaction as the change."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from domain import attendance_devices as devices
from domain import zkteco
from domain.models import AttendanceDevice, Project, PunchQuarantine, Role
from domain.processes.attendance import DeviceProtocol, DeviceStatus, Direction, listed_gaps
from domain.processes.zkteco import CommandKind, CommandStatus

from ..core import remote_addr, services
from ..formutil import flash_form_problem
from ..refusals import DEVICE_REFUSALS, refusal_message
from ..scoping import get_or_404
from ..security import require_roles
from .forms import KIND_LABELS, PROTOCOL_LABELS, ActionForm, DeviceForm

bp = Blueprint("attendance", __name__, url_prefix="/attendance", template_folder="templates")
GAPS_SHOWN = 20
STORE, DISMISS = "store", "dismiss"


# views that check their own roles (the attendance readers of web/attendance/statistics.py readers_only:
# statistics, corrections, flags); every other view of the blueprint is the project account's
SELF_GUARDED: set[str] = set()


@bp.before_request
def guard():
    if request.endpoint in SELF_GUARDED:
        return None
    return require_roles(Role.PROJECT)


def _actor() -> devices.Actor:
    return devices.Actor(current_user.id, current_user.display_name, remote_addr())


@bp.route("/")
def home():
    with services().Session() as db:
        projects = list(db.scalars(select(Project).order_by(Project.code)))  # the scope filters
    if len(projects) == 1:
        return redirect(url_for(".project_devices", project_id=projects[0].id))
    return render_template("attendance/home.html", projects=projects)


def _rows(db, project_id: int) -> list[dict]:
    return [{"device": r.device, "punches": r.punches, "backlog": r.backlog, "skewed": r.skewed,
             "missing": r.missing, "gaps": listed_gaps(r.gaps, GAPS_SHOWN),
             "kind_label": KIND_LABELS.get(r.device.kind, r.device.kind),
             "protocol_label": PROTOCOL_LABELS.get(r.device.protocol, r.device.protocol)}
            for r in devices.project_devices(db, project_id)]


@bp.route("/projects/<int:project_id>/devices")
def project_devices(project_id: int):
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        rows = _rows(db, project.id)
        serials = {r["device"].id: r["device"].serial for r in rows}
        quarantine = [{"row": q, "serial": serials.get(q.device_id, "")}
                      for q in devices.open_quarantine(db, project.id)]
        zk_ids = [r["device"].id for r in rows if r["device"].protocol == DeviceProtocol.ZKTECO]
        return render_template("attendance/devices.html", project=project, rows=rows, quarantine=quarantine,
                               form=DeviceForm(), action=ActionForm(), DeviceStatus=DeviceStatus, Direction=Direction,
                               STORE=STORE, DISMISS=DISMISS, serials=serials,
                               commands=zkteco.command_overview(db, zk_ids), zk_ids=zk_ids,
                               CommandKind=CommandKind, CommandStatus=CommandStatus)


@bp.route("/projects/<int:project_id>/devices", methods=["POST"])
def register(project_id: int):
    form = DeviceForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return redirect(url_for(".project_devices", project_id=project_id))
    svc = services()
    try:
        with svc.Session.begin() as db:
            project = get_or_404(db, Project, project_id)
            device, secret = devices.register_device(
                db, svc.cipher, _actor(), project_id=project.id, serial=form.serial.data, kind=form.kind.data,
                protocol=form.protocol.data, allowed_sources=form.allowed_sources.data or "")
            shown = {"serial": device.serial, "protocol": device.protocol, "project": project.name}
    except devices.DeviceError as exc:
        flash(refusal_message(exc.code, DEVICE_REFUSALS), "error")
        return redirect(url_for(".project_devices", project_id=project_id))
    # the secret is shown on this one response and never again (not flashed: no session holds it)
    response = make_response(render_template("attendance/registered.html", device=shown, secret=secret,
                                             project_id=project_id, DeviceProtocol=DeviceProtocol))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/devices/<int:device_id>/revoke", methods=["POST"])
def revoke(device_id: int):
    with services().Session.begin() as db:
        device = get_or_404(db, AttendanceDevice, device_id)
        project_id = device.project_id
        try:
            devices.revoke_device(db, _actor(), device)
            flash(_("The device %(serial)s is revoked: it is refused from now on.", serial=device.serial), "success")
        except devices.DeviceError as exc:
            flash(refusal_message(exc.code, DEVICE_REFUSALS), "error")
    return redirect(url_for(".project_devices", project_id=project_id))


@bp.route("/quarantine/<int:quarantine_id>/resolve", methods=["POST"])
def resolve(quarantine_id: int):
    decision = ActionForm().decision.data  # the CSRF token was checked before any view (CSRFProtect)
    if decision not in (STORE, DISMISS):
        abort(400)
    svc = services()
    with svc.Session() as db:
        project_id = get_or_404(db, PunchQuarantine, quarantine_id).project_id
    try:
        with svc.Session.begin() as db:
            row = get_or_404(db, PunchQuarantine, quarantine_id)
            devices.resolve_quarantine(db, _actor(), row, store=decision == STORE)
        flash(_("The punch is stored for the worker.") if decision == STORE
              else _("The punch is dismissed."), "success")
    except devices.DeviceError as exc:
        flash(refusal_message(exc.code, DEVICE_REFUSALS), "error")
    return redirect(url_for(".project_devices", project_id=project_id))
