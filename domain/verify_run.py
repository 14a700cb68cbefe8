"""`shiming verify-run`: a wage run's signature chain and sums, re-derived from what was signed.

The signed wage table file is re-parsed and compared line by line with the database, so a wage
line changed after signing is found; the sums must agree:
Σ wage table = Σ lines = Σ first bank file, and Σ lines = Σ paid + Σ settled + Σ failed + Σ open.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from . import signing
from . import wage_table as wt
from .models import BankBatch, StoredFile, WageLine, WageRun, WageStepSignature
from .services import Services


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
        if "wage_table" not in steps:
            p.append("the wage table step is not signed")
        else:
            doc = signing.parse_step_document(steps["wage_table"].document) or {}
            signed_sha = doc.get("content_sha256")
            if run.table_sha256 != signed_sha:
                p.append("the run's wage table is not the signed one")
            stored = session.get(StoredFile, run.table_file_id) if run.table_file_id else None
            if stored is None or stored.sha256 != signed_sha:
                p.append("the signed wage table file is missing")
            else:
                parsed = wt.parse_upload(session, run.project_id, services.blobs.get(stored.sha256))
                signed_lines = {x.seq: x for x in parsed.lines}
                report.figures["table_fen"] = parsed.total_fen
                for line in lines:
                    want = signed_lines.pop(line.seq, None)
                    if want is None:
                        p.append(f"line {line.seq} is not in the signed wage table")
                    elif (want.worker_id, want.net_fen, want.gross_fen) != (line.worker_id, line.net_fen, line.gross_fen):
                        p.append(f"line {line.seq} differs from the signed wage table")
                for seq in signed_lines:
                    p.append(f"line {seq} of the signed wage table is missing from the database")
        total = sum(x.net_fen for x in lines)
        by_status: dict[str, int] = {}
        for x in lines:
            by_status[x.status] = by_status.get(x.status, 0) + x.net_fen
        batches = list(session.scalars(select(BankBatch).where(BankBatch.run_id == run.id).order_by(BankBatch.version)))
        report.figures.update(lines=len(lines), lines_fen=total, run_total_fen=run.total_fen,
                              bank_file_fen=batches[0].total_fen if batches else 0,
                              batches=len(batches), **{f"{k}_fen": v for k, v in sorted(by_status.items())})
        if report.figures.get("table_fen", total) != total or run.total_fen != total:
            p.append("Σ wage table, Σ run and Σ lines disagree")
        if batches and batches[0].total_fen != total:
            p.append("Σ first bank file differs from Σ wage table")
        for batch in batches[1:]:
            covered = sum(x.net_fen for x in lines if x.batch_version == batch.version)
            if covered != batch.total_fen:
                p.append(f"Σ bank file version {batch.version} differs from the lines it paid")
        if sum(by_status.values()) != total:
            p.append("Σ paid + settled + failed + open differs from Σ lines")
        return report


def format_report(report: RunReport) -> str:
    out = [f"wage run {report.run_id} ({report.workflow_id}): {'OK' if report.ok else 'PROBLEMS'}"]
    out += [f"  {k}: {v}" for k, v in report.figures.items()]
    out += [f"  ✗ {problem}" for problem in report.problems]
    return "\n".join(out)
