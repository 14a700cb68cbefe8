"""Payroll specialist: the page of one wage run — its steps, batches, lines and what needs attention."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from domain.attendance import monthly_summary
from domain.models import Account, AuditLog, BankBatch, BankCard, Project, WageLine, Worker
from domain.money import format_yuan
from domain.rules import mask_card_number
from domain.wage_run import cancel_reason
from domain.wage_run import lines_on_failed_card
from domain.workforce import current_cards
from domain.processes.wage_run import SIGNED_STEPS, LineFailure, Step, WageLineStatus, WageRunStatus

from ..core import services
from ..i18n import bank_failure, local_time
from .table_report import problems_of
from .forms import WageFileForm, ReissueForm, SettleForm, SignedSheetForm, WageTableForm
from .downloads import _error_report
from .. import i18n
from .routes import LINE_FILTERS, _has_key, _query_status, _run_in_scope, bp

def _lines(db, run_id: int, which: str) -> list[dict]:
    q = (select(WageLine, Worker.name, BankCard.last4)
         .join(Worker, Worker.id == WageLine.worker_id)
         .outerjoin(BankCard, BankCard.id == WageLine.card_id)
         .where(WageLine.run_id == run_id))
    if which in (WageLineStatus.PAID, WageLineStatus.FAILED, WageLineStatus.SETTLED):
        q = q.where(WageLine.status == which)
    rows = []
    for line, name, last4 in db.execute(q.order_by(WageLine.seq)):
        rows.append({"id": line.id, "seq": line.seq, "name": name,
                     "card": mask_card_number(last4) if last4 else "",
                     "net": format_yuan(line.net_fen), "status": line.status,
                     "status_label": i18n.line_status(line.status),
                     "failure_code": line.failure_code or "", "failure": bank_failure(line.failure_code),
                     "settled_reason": line.settled_reason or "",
                     "back_pay_month": line.back_pay_month or ""})
        rows[-1].update(batch_version=line.batch_version, card_id=line.card_id, worker_id=line.worker_id)
    _mark_reissue_cards(db, run_id, rows)
    return rows


def _mark_reissue_cards(db, run_id: int, rows: list[dict]) -> None:
    """Failed lines: the card a re-issue would pay into (the worker's current card, masked), or that
    it needs a new card first (its card failure is still the current card: refused SameFailedCard)."""
    failed = [row for row in rows if row["status"] == WageLineStatus.FAILED]
    stuck = {line.line_id for line in lines_on_failed_card(db, run_id)}
    current = current_cards(db, [row["worker_id"] for row in failed]) if failed else {}
    for row in failed:
        card = current.get(row["worker_id"])
        row["needs_new_card"] = row["id"] in stuck
        row["next_card"] = mask_card_number(card.last4) if card is not None and card.id != row["card_id"] else ""


def _needs_new_card(db, run_id: int) -> list[dict]:
    """The failed lines a re-issue would send to the card the bank refused, with the worker's name."""
    stuck = lines_on_failed_card(db, run_id)
    names = dict(db.execute(select(Worker.id, Worker.name).where(
        Worker.id.in_({line.worker_id for line in stuck}))).all()) if stuck else {}
    return [{"id": line.line_id, "seq": line.seq, "name": names.get(line.worker_id, ""),
             "failure": bank_failure(line.failure_code), "name_mismatch": line.failure_code == LineFailure.NAME_MISMATCH}
            for line in stuck]


STATEMENT_PROBLEMS = ("bank_statement.refused", "bank_statement.conflict", "bank_statement.refused_at_apply")


def _statement_problems(db, workflow_id: str) -> list[dict]:
    """Bank statements of this run that were refused or conflict: the audit rows, newest first."""
    from ..timeline import ACTIONS

    rows = db.scalars(select(AuditLog).where(AuditLog.business_key == workflow_id,
                                             AuditLog.action.in_(STATEMENT_PROBLEMS))
                      .order_by(AuditLog.id.desc()).limit(20))
    return [{"action": row.action, "when": local_time(row.created_at), "text": str(ACTIONS[row.action])}
            for row in rows]


@bp.route("/run/<int:run_id>")
def run(run_id: int):
    which = request.args.get("lines", "all")
    if which not in LINE_FILTERS:
        which = "all"
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        project = db.get(Project, run.project_id)
        uploader = db.get(Account, run.table_uploaded_by) if run.table_uploaded_by else None
        batches = list(db.scalars(select(BankBatch).where(BankBatch.run_id == run.id).order_by(BankBatch.version)))
        report = _error_report(db, run.id) if run.step == Step.WAGE_TABLE else None
        lines = _lines(db, run.id, which)
        has_key = _has_key(db)
        context = dict(
            run=run, project_name=project.name if project else "", lines=lines, which=which,
            step_label=i18n.step_label(run.step), status_label=i18n.run_status(run.status),
            uploader=uploader.display_name if uploader else "", uploader_is_me=run.table_uploaded_by == current_user.id,
            total=format_yuan(run.total_fen or 0),
            batches=[{"version": b.version, "batch_id": b.batch_id, "line_count": b.line_count,
                      "total": format_yuan(b.total_fen), "status": b.status, "has_file": b.file_id is not None}
                     for b in batches],
            error_report=report, has_key=has_key,
            cancel_reason=cancel_reason(db, run) if run.status == WageRunStatus.CANCELLED else "",
            table_problems=problems_of(services().blobs.get(report.sha256)) if report else [],
            statement_problems=_statement_problems(db, run.workflow_id),
            needs_new_card=_needs_new_card(db, run.id),
            attendance=monthly_summary(db, run.project_id, run.month),  # what the prefill reads
        )
    view = _query_status(context["run"].workflow_id)
    batch = getattr(view, "batch", None) if view is not None else None
    context.update(
        steps=[(s, i18n.step_label(s)) for s in SIGNED_STEPS],
        process_step=getattr(view, "step", None) if view is not None else None,
        process_step_label=i18n.step_label(getattr(view, "step", None)) if view is not None else "",
        reachable=view is not None,
        current_batch=batch,
        current_batch_total=format_yuan(batch.total_fen) if batch is not None else "",
        reconcile=getattr(view, "reconcile", None) if view is not None else None,
        table_form=WageTableForm(formdata=None), sheet_form=SignedSheetForm(formdata=None),
        wage_file_form=WageFileForm(formdata=None, batch_version=batch.version if batch is not None else None),
        reissue_form=ReissueForm(formdata=None), settle_form=SettleForm(formdata=None),
        line_filters=[("all", _("All")), ("paid", _("Paid")), ("failed", _("Failed")), ("settled", _("Settled otherwise"))],
    )
    return render_template("payroll/run.html", **context)


