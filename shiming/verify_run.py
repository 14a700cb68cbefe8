"""`shiming verify-run`: a wage run's signature chain and sums, re-derived from what was signed.

The signed wage table file is re-parsed and compared line by line with the database, so a wage
line changed after signing is found; the sums must agree:
Σ wage table = Σ lines = Σ first bank file, and Σ lines = Σ paid + Σ settled + Σ failed + Σ open.

The lines are also compared with the bank's stored statements (re-verified with the pinned bank
keys when they are configured): each answered batch has exactly one statement, which accounts for
the whole batch; a line is paid exactly when the statement of the batch that carried it says paid,
for the same amount; a line the statement says failed is failed, settled, or re-issued in a later
batch.

It lives in the composition root: it judges the domain's facts with the bank connectors' statement
codec and the pinned bank keys, which domain may not import.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bank_connectors.keys import BankKeysError, load_pinned_bank_keys
from bank_connectors.wagefile import PAID, StatementError, StatementLine, parse_json_document, verify_statement
from domain import signing
from domain import wage_table as wt
from domain.models import BankBatch, BankStatement, StoredFile, WageLine, WageRun, WageStepSignature
from domain.processes.wage_run import BatchStatus, Step, WageLineStatus
from domain.services import Services


@dataclass
class RunReport:
    run_id: int
    workflow_id: str
    problems: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_run(session, ref: str) -> WageRun | None:
    if ref.isdigit():
        return session.get(WageRun, int(ref))
    return session.scalar(select(WageRun).where(WageRun.workflow_id == ref))


def verify_run(services: Services, ref: str) -> RunReport:
    with services.Session() as session:
        run = find_run(session, ref)
        if run is None:
            raise LookupError(f"no wage run {ref!r}")
        report = RunReport(run.id, run.workflow_id)
        p = report.problems
        p += signing.verify_chain(session, run.id)
        steps = {s.step: s for s in session.scalars(select(WageStepSignature).where(WageStepSignature.run_id == run.id))}
        lines = list(session.scalars(select(WageLine).where(WageLine.run_id == run.id).order_by(WageLine.seq)))
        p += _compare_with_signed_table(services, session, run, steps, lines, report.figures)
        batches = list(session.scalars(select(BankBatch).where(BankBatch.run_id == run.id).order_by(BankBatch.version)))
        p += _check_sums(run, lines, batches, report.figures)
        p += _compare_with_statements(services, session, batches, lines, report.figures)
        return report


def _compare_with_signed_table(services: Services, session, run: WageRun, steps: dict, lines: list[WageLine],
                               figures: dict) -> list[str]:
    """The signed wage table file, re-parsed, against the run's lines (its sum goes to figures["table_fen"])."""
    if Step.WAGE_TABLE not in steps:
        return ["the wage table step is not signed"]
    problems: list[str] = []
    doc = signing.parse_step_document(steps[Step.WAGE_TABLE].document) or {}
    signed_sha = doc.get("content_sha256")
    if run.table_sha256 != signed_sha:
        problems.append("the run's wage table is not the signed one")
    stored = session.get(StoredFile, run.table_file_id) if run.table_file_id else None
    if stored is None or stored.sha256 != signed_sha:
        problems.append("the signed wage table file is missing")
        return problems
    parsed = wt.parse_upload(session, run.project_id, services.blobs.get(stored.sha256))
    signed_lines = {x.seq: x for x in parsed.lines}
    figures["table_fen"] = parsed.total_fen
    for line in lines:
        want = signed_lines.pop(line.seq, None)
        if want is None:
            problems.append(f"line {line.seq} is not in the signed wage table")
        elif (want.worker_id, want.net_fen, want.gross_fen, want.back_pay_month) != (
                line.worker_id, line.net_fen, line.gross_fen, line.back_pay_month):
            problems.append(f"line {line.seq} differs from the signed wage table")
    for seq in signed_lines:
        problems.append(f"line {seq} of the signed wage table is missing from the database")
    return problems


def _check_sums(run: WageRun, lines: list[WageLine], batches: list[BankBatch], figures: dict) -> list[str]:
    """Σ wage table = Σ run = Σ lines = Σ first bank file; each later bank file = Σ the lines it paid;
    Σ by status = Σ lines. The sums go to `figures`."""
    problems: list[str] = []
    total = sum(x.net_fen for x in lines)
    by_status: dict[str, int] = {}
    for x in lines:
        by_status[x.status] = by_status.get(x.status, 0) + x.net_fen
    figures.update(lines=len(lines), lines_fen=total, run_total_fen=run.total_fen,
                   bank_file_fen=batches[0].total_fen if batches else 0,
                   batches=len(batches), **{f"{k}_fen": v for k, v in sorted(by_status.items())})
    if figures.get("table_fen", total) != total or run.total_fen != total:
        problems.append("Σ wage table, Σ run and Σ lines disagree")
    if batches and batches[0].total_fen != total:
        problems.append("Σ first bank file differs from Σ wage table")
    for batch in batches[1:]:
        covered = sum(x.net_fen for x in lines if x.batch_version == batch.version)
        if covered != batch.total_fen:
            problems.append(f"Σ bank file version {batch.version} differs from the lines it paid")
    if sum(by_status.values()) != total:
        problems.append("Σ paid + settled + failed + open differs from Σ lines")
    return problems


def _pinned_keys(services: Services):
    if not services.settings.bank_keys_file:
        return None
    try:
        return load_pinned_bank_keys(services.settings.bank_keys_file)
    except BankKeysError:
        return None


def _compare_with_statements(services: Services, session, batches, lines, figures: dict) -> list[str]:
    problems: list[str] = []
    keys = _pinned_keys(services)
    paid_by_statement = 0
    statements_seen = 0
    for batch in batches:
        rows = list(session.scalars(select(BankStatement).where(BankStatement.batch_id == batch.batch_id)))
        if batch.status == BatchStatus.ANSWERED and not rows:
            problems.append(f"bank file version {batch.version} is answered but no statement is stored")
        if len(rows) > 1:
            problems.append(f"bank file version {batch.version} has {len(rows)} statements")
        carried = {x.file_seq: x for x in lines if x.batch_version == batch.version}
        for row in rows:
            statements_seen += 1
            body = services.blobs.get(row.body_sha256)
            try:
                items = verify_statement(body, keys).lines if keys is not None else _unverified_lines(
                    parse_json_document(body))
            except (StatementError, LookupError, TypeError, ValueError) as exc:
                problems.append(f"the statement of bank file version {batch.version} does not verify: "
                                f"{getattr(exc, 'code', type(exc).__name__)}")
                continue
            found, paid_fen = _compare_statement(batch, row, items, carried)
            problems += found
            paid_by_statement += paid_fen
        if not rows:
            for line in lines:
                if line.batch_version == batch.version and line.status == WageLineStatus.PAID:
                    problems.append(f"line {line.seq} is paid but bank file version {batch.version} "
                                    f"has no statement")
    figures.update(statements=statements_seen, statement_paid_fen=paid_by_statement)
    paid_lines = sum(x.net_fen for x in lines if x.status == WageLineStatus.PAID)
    if statements_seen and paid_by_statement != paid_lines:
        problems.append("Σ paid by the bank's statements differs from Σ paid lines")
    return problems


def _compare_statement(batch: BankBatch, row: BankStatement, items: list[StatementLine],
                       carried: dict[int, WageLine]) -> tuple[list[str], int]:
    """One stored statement against the batch and the lines it `carried` (by file seq); returns the
    problems and the fen it says paid, counted once the statement is applied."""
    problems: list[str] = []
    paid_fen = 0
    seqs = [item.seq for item in items]
    if sorted(seqs) != list(range(1, batch.line_count + 1)) \
            or sum(item.amount_fen for item in items) != batch.total_fen:
        problems.append(f"the statement of bank file version {batch.version} does not account for "
                        f"its {batch.line_count} line(s)")
    said = {item.seq: item for item in items}
    for seq, item in sorted(said.items()):
        if item.status == PAID and row.applied_at is not None:
            paid_fen += item.amount_fen
        line = carried.get(seq)
        if line is None:
            if item.status == PAID:
                problems.append(f"bank file version {batch.version} line {seq} was paid by the bank "
                                f"but no wage line carries it")
            continue  # failed there, re-issued in a later batch
        if item.amount_fen != line.net_fen:
            problems.append(f"line {line.seq}: the bank's statement says {item.amount_fen} fen, "
                            f"the line {line.net_fen} fen")
        if row.applied_at is None:
            continue
        if item.status == PAID and line.status != WageLineStatus.PAID:
            problems.append(f"line {line.seq} is {line.status} but the bank's statement says paid")
        elif item.status != PAID and line.status == WageLineStatus.PAID:
            problems.append(f"line {line.seq} is paid but the bank's statement says {item.status}")
    for seq, line in sorted(carried.items()):
        if seq not in said and line.status == WageLineStatus.PAID:
            problems.append(f"line {line.seq} is paid but the bank's statement does not name it")
    return problems, paid_fen


def _unverified_lines(doc: dict):
    """Statement lines without the signature check (no pinned keys configured where verify-run runs)."""
    return [StatementLine(**item) for item in doc["lines"]]


def format_report(report: RunReport) -> str:
    out = [f"wage run {report.run_id} ({report.workflow_id}): {'OK' if report.ok else 'PROBLEMS'}"]
    out += [f"  {k}: {v}" for k, v in report.figures.items()]
    out += [f"  ✗ {problem}" for problem in report.problems]
    return "\n".join(out)
