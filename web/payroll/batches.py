"""One batch of a wage run as it was sent: each line's worker, sequence, masked card and amount
(issue 8, point 8). The run page shows each line's latest batch and card; this page keeps what
every earlier batch used after a re-issue moved its failed lines to a new card."""
from __future__ import annotations

from flask import abort, render_template
from sqlalchemy import select

from domain.models import BankBatch, BankBatchLine, BankCard, WageLine, Worker
from domain.processes.wage_run import WageLineStatus
from domain.money import format_yuan
from domain.rules import mask_card_number

from ..core import services
from ..i18n import bank_failure, line_status
from .routes import _run_in_scope, bp


def batch_lines(db, batch: BankBatch) -> list[dict]:
    """The batch's lines in wage-file order. A line that a later batch re-issued failed in this one
    (only failed lines are re-issued); otherwise its outcome is the line's own."""
    rows = []
    for entry, line, name, last4 in db.execute(
            select(BankBatchLine, WageLine, Worker.name, BankCard.last4)
            .join(WageLine, WageLine.id == BankBatchLine.line_id)
            .join(Worker, Worker.id == WageLine.worker_id)
            .join(BankCard, BankCard.id == BankBatchLine.card_id)
            .where(BankBatchLine.batch_id == batch.id).order_by(BankBatchLine.file_seq)):
        later = line.batch_version is not None and line.batch_version > batch.version
        status = WageLineStatus.FAILED if later else line.status
        rows.append({"file_seq": entry.file_seq, "seq": line.seq, "name": name, "card": mask_card_number(last4),
                     "amount": format_yuan(entry.amount_fen), "status": status,
                     "status_label": line_status(status), "reissued_in": line.batch_version if later else None,
                     "failure": "" if later else bank_failure(line.failure_code)})
    return rows


@bp.route("/run/<int:run_id>/batch/<int:version>")
def batch(run_id: int, version: int):
    with services().Session() as db:
        run = _run_in_scope(db, run_id)
        found = db.scalar(select(BankBatch).where(BankBatch.run_id == run.id, BankBatch.version == version))
        if found is None:
            abort(404)
        return render_template("payroll/batch.html", run=run, batch=found, total=format_yuan(found.total_fen),
                               lines=batch_lines(db, found))
