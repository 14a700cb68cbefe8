"""Project account (or a subcontractor collecting its workers): the roster import, its template and
its error report."""
from __future__ import annotations

import hashlib
from typing import Optional

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from domain import audit
from domain.uploads import UploadError, check_xlsx, read_upload
from domain.models import Account, StoredFile
from domain.roster import MAX_BYTES as MAX_ROSTER_BYTES
from domain.roster import MAX_UNPACKED_BYTES as MAX_ROSTER_UNPACKED
from domain.roster import error_report_xlsx, import_roster, roster_template_xlsx

from ..formutil import flash_form_problem
from ..core import remote_addr, send_bytes, services
from ..i18n import upload_message
from .forms import RosterForm

from .routes import XLSX, _collector_company, bp

ROSTER_ERRORS_NAME = "roster-errors-{project_id}.xlsx"
COMPANY_ROSTER_ERRORS_NAME = "roster-errors-{project_id}-company-{company_id}.xlsx"


def _roster_errors_name(project_id: int, company_id: Optional[int]) -> str:
    if company_id is None:
        return ROSTER_ERRORS_NAME.format(project_id=project_id)
    return COMPANY_ROSTER_ERRORS_NAME.format(project_id=project_id, company_id=company_id)



# ---- roster import ------------------------------------------------------------------------------


def _roster_report(db, company_id: Optional[int]) -> Optional[StoredFile]:
    name = _roster_errors_name(current_user.project_id, company_id)
    return db.scalar(select(StoredFile).where(StoredFile.display_name == name)
                     .order_by(StoredFile.id.desc()).limit(1))


def _read_upload(field) -> bytes:
    """The uploaded roster after the upload guard (size, OOXML by content, zip bomb, entry names)."""
    limit = min(services().settings.upload_max_bytes, MAX_ROSTER_BYTES)
    data = read_upload(field.data, limit)
    check_xlsx(data, limit, max_unpacked=MAX_ROSTER_UNPACKED)
    return data


@bp.route("/roster", methods=["GET", "POST"])
def roster():
    company_id = _collector_company()
    if current_user.project_id is None:
        abort(404)
    form = RosterForm()
    result = None
    status = 200
    if request.method == "POST":
        status = 422
        if not form.validate_on_submit():
            flash_form_problem(form)
        else:
            try:
                data = _read_upload(form.roster)
            except UploadError as exc:
                flash(upload_message(str(exc)), "error")
            else:
                result = _import(data, company_id)
                if result.ok:
                    flash(_("The roster was imported: %(created)s new and %(updated)s updated workers.",
                            created=result.created, updated=result.updated), "success")
                    return redirect(url_for("project.workers"))
                flash(_("The roster has %(count)s error(s); nothing was imported. Download the error report, "
                        "correct the file and upload it again.", count=len(result.errors)), "error")
    return render_template("project/roster.html", form=form, result=result), status


def _import(data: bytes, company_id: Optional[int] = None):
    project_id = current_user.project_id
    with services().Session.begin() as db:
        result = import_roster(db, services().cipher, project_id, data, company_id=company_id)
        if result.ok:
            account = db.get(Account, current_user.id)
            audit.record(db, actor_id=account.id, actor_name=account.display_name, action="roster.import",
                         target_type="project", target_id=project_id, remote_addr=remote_addr(),
                         detail={"created": result.created, "updated": result.updated,
                                 "sha256": hashlib.sha256(data).hexdigest()})
            return result
    # nothing was written above; the masked report is stored on its own
    with services().Session.begin() as db:
        services().blobs.store(db, error_report_xlsx(result.errors), XLSX,
                               _roster_errors_name(project_id, company_id))
    return result


@bp.route("/roster/template.xlsx")
def roster_template():
    _collector_company()
    return send_bytes(roster_template_xlsx(), "roster-template.xlsx", XLSX)


@bp.route("/roster/errors.xlsx")
def roster_errors():
    company_id = _collector_company()
    if current_user.project_id is None:
        abort(404)
    with services().Session() as db:
        report = _roster_report(db, company_id)
        if report is None:
            abort(404)
        data = services().blobs.get(report.sha256)
    return send_bytes(data, "roster-errors.xlsx", XLSX)
