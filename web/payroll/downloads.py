"""Payroll specialist: the files of one wage run — the prefilled and the accepted wage table, the
sign sheet, the error report, each batch's wage file and the signed sheet's scan (all through
web.core.send_bytes)."""
from __future__ import annotations

import logging
from typing import Optional

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import select

from domain.models import BankBatch, StoredFile, WageRun
from domain.wage_table import prefill_xlsx
from domain.processes.wage_run import error_report_name

from ..core import send_bytes, services
from ..security import SCAN_CSP
from .sign_sheet import DOCX, sign_sheet_docx
from .table_report import readable_report
from .routes import XLSX, _run_in_scope, bp

log = logging.getLogger("shiming.web.payroll")


def _error_report(db, run_id: int) -> Optional[StoredFile]:
    return db.scalar(select(StoredFile).where(StoredFile.display_name == error_report_name(run_id))
                     .order_by(StoredFile.id.desc()).limit(1))


@bp.route("/run/<int:run_id>/table.xlsx")
def table(run_id: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        data = prefill_xlsx(db, services().cipher, run.project_id, run.month)
        name = f"wage-table-{run.month}.xlsx"
    return send_bytes(data, name, XLSX)


def _accepted_run(db, run_id: int) -> WageRun:
    """The run in scope whose wage table was accepted (step 1 done); else 404."""
    run = _run_in_scope(db, run_id)
    if run.table_file_id is None:
        abort(404)
    return run


@bp.route("/run/<int:run_id>/accepted-table.xlsx")
def accepted_table(run_id: int):
    """The wage table as it was accepted (signed in step 1), again."""
    with services().Session() as db:
        run = _accepted_run(db, run_id)
        stored = db.get(StoredFile, run.table_file_id)
        data, month = services().blobs.get(stored.sha256), run.month
    return send_bytes(data, _("Accepted wage table %(month)s.xlsx", month=month), XLSX)


@bp.route("/run/<int:run_id>/sign-sheet.docx")
def sign_sheet(run_id: int):
    """The printable sheet the workers sign (step 2), built from the accepted table's lines."""
    with services().Session() as db:
        run = _accepted_run(db, run_id)
        data, month = sign_sheet_docx(db, services().cipher, run), run.month
    return send_bytes(data, _("Wage sign sheet %(month)s.docx", month=month), DOCX)


@bp.route("/run/<int:run_id>/errors.xlsx")
def error_report(run_id: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        report = _error_report(db, run.id)
        if report is None:
            abort(404)
        data, name = services().blobs.get(report.sha256), report.display_name
    try:  # the stored report holds codes: the reader gets it in their language
        data = readable_report(data)
    except ValueError:
        log.warning("error report %s of run %s is not readable; served as stored", report.id, run_id)
    return send_bytes(data, name, XLSX)


@bp.route("/run/<int:run_id>/wage-file/<int:version>")
def wage_file(run_id: int, version: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        batch = db.scalar(select(BankBatch).where(BankBatch.run_id == run.id, BankBatch.version == version))
        stored = db.get(StoredFile, batch.file_id) if batch is not None and batch.file_id else None
        if stored is None:
            abort(404)
        data, content_type, name = services().blobs.get(stored.sha256), stored.content_type, stored.display_name
    return send_bytes(data, name, content_type)


@bp.route("/run/<int:run_id>/sheet")
def sheet(run_id: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        stored = db.get(StoredFile, run.sheet_file_id) if run.sheet_file_id else None
        if stored is None:
            abort(404)
        data, content_type, name = services().blobs.get(stored.sha256), stored.content_type, stored.display_name
    return send_bytes(data, name, content_type, inline=True, csp=SCAN_CSP)


