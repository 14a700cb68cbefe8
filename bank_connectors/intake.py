"""Platform-side statement intake: verify, check against the batch, store once, name the wage run.

Used by the HTTP callback (web) and the exchange-folder poller (worker). The bank is trusted only
through its pinned keys (keys.PinnedBankKeys, provisioned out of band), never through the channel.

- A statement whose signature does not verify under a pinned key, that is malformed, or that names
  an unknown batch is refused (`StatementError`) and audited.
- A statement must account for its whole batch: every sequence number of the wage file exactly
  once, the same line count and total, and each line the amount that was sent. Otherwise it is
  refused ("incomplete") and audited.
- A re-delivery of the stored statement (same id, same bytes) is a duplicate: nothing changes.
- Any other statement for a batch that already has one is a conflict: it is kept as evidence,
  audited as `bank_statement.conflict`, and opens a task for the project's payroll specialists
  (`StatementConflict`); it is never applied and never ignored silently.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select

from domain import audit, notify
from domain.models import (Account, BankBatch, BankStatement, HumanTask, Role, TaskStatus, WageLine, WageRun,
                           utcnow)
from domain.services import Services

from .wagefile import Statement, StatementError, statement_signer, verify_statement

CONFLICT_TASK = "bank_statement_conflict"


class StatementConflict(StatementError):
    """A second, different statement for a batch that already has one (audited, task opened)."""

    def __init__(self, detail: str = ""):
        super().__init__("conflict", detail)


@dataclass
class IntakeResult:
    statement_id: str
    workflow_id: str
    run_id: int
    new: bool


def _actor(source: str) -> str:
    return f"bank ({source})"


def record_refusal(services: Services, body: bytes, source: str, reason: str, *, statement_id: str = "-",
                   run: WageRun | None = None, detail: dict | None = None) -> None:
    """One audit row for a statement (or a file posing as one) that the platform refused."""
    with services.Session.begin() as session:
        audit.record(session, actor_id=None, actor_name=_actor(source), action="bank_statement.refused",
                     target_type="wage_run" if run is not None else "bank_statement",
                     target_id=run.id if run is not None else statement_id[:64],
                     business_key=run.workflow_id if run is not None else None, reason=reason[:200],
                     detail={"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
                             "signer": statement_signer(body)[:16], **(detail or {})})


def completeness_problem(session, batch: BankBatch, statement: Statement) -> str | None:
    """Why `statement` does not account for `batch`, or None when it does."""
    seqs = [line.seq for line in statement.lines]
    if len(seqs) != batch.line_count or set(seqs) != set(range(1, batch.line_count + 1)):
        missing = sorted(set(range(1, batch.line_count + 1)) - set(seqs))
        extra = sorted(set(seqs) - set(range(1, batch.line_count + 1)))
        return (f"the statement has {len(seqs)} line(s) for a batch of {batch.line_count}"
                f" (missing {missing[:10]}, unknown {extra[:10]})")
    total = sum(line.amount_fen for line in statement.lines)
    if total != batch.total_fen:
        return f"the statement totals {total} fen for a batch of {batch.total_fen} fen"
    sent = dict(session.execute(select(WageLine.file_seq, WageLine.net_fen).where(
        WageLine.run_id == batch.run_id, WageLine.batch_version == batch.version)).all())
    wrong = [line.seq for line in statement.lines if line.seq in sent and sent[line.seq] != line.amount_fen]
    if wrong:
        return f"line(s) {wrong[:10]} differ in amount from the wage file"
    return None


def _open_conflict_task(session, services: Services, run: WageRun, batch_id: str, sha256: str) -> bool:
    """A task for the project's payroll specialists; one per conflicting statement body."""
    title = f"Conflicting bank statement for batch {batch_id} ({sha256[:12]})"
    existing = session.scalars(select(HumanTask).where(HumanTask.workflow_id == run.workflow_id,
                                                       HumanTask.kind == CONFLICT_TASK)).all()
    if any(task.title == title for task in existing):
        return False
    # no district: the bureau's inbox (per district) is not where the payroll specialists work
    session.add(HumanTask(kind=CONFLICT_TASK, workflow_id=run.workflow_id, business_key=run.workflow_id[:64],
                          round=len(existing) + 1, title=title, status=TaskStatus.NEW,
                          candidate_role=Role.PAYROLL_SPECIALIST, district_id=None, created_at=utcnow()))
    for account_id in session.scalars(select(Account.id).where(
            Account.role == Role.PAYROLL_SPECIALIST, Account.project_id == run.project_id,
            Account.is_active.is_(True))):
        notify.enqueue(session, services.cipher, dedupe_key=f"stmt-conflict-{sha256[:32]}-{account_id}",
                       channel="inbox", template="bank_statement_conflict", account_id=account_id,
                       body=f"{run.workflow_id}|{batch_id}")
    return True


def _checked_batch(services: Services, body: bytes, source: str, statement: Statement) -> BankBatch:
    """The batch `statement` names, when the statement accounts for all of it; refused (audited)
    as "unknown_batch" or "incomplete" otherwise."""
    with services.Session() as session:
        batch = session.scalar(select(BankBatch).where(BankBatch.batch_id == statement.batch_id))
        run = session.get(WageRun, batch.run_id) if batch is not None else None
        problem = completeness_problem(session, batch, statement) if batch is not None else None
    if batch is None:
        record_refusal(services, body, source, "unknown batch", statement_id=statement.statement_id,
                       detail={"batch_id": statement.batch_id})
        raise StatementError("unknown_batch", statement.batch_id)
    if problem is not None:
        record_refusal(services, body, source, f"incomplete: {problem}", statement_id=statement.statement_id,
                       run=run, detail={"statement_id": statement.statement_id, "batch_id": statement.batch_id})
        raise StatementError("incomplete", problem)
    return batch


def _keep_conflict(session, services: Services, run: WageRun, statement: Statement, body: bytes, sha256: str,
                   source: str) -> None:
    """Keep a conflicting statement as evidence; the first time this body arrives, open the
    specialists' task and audit the conflict."""
    stored = services.blobs.store(session, body, "application/json", f"conflict-{sha256[:16]}.stmt.json")
    opened = _open_conflict_task(session, services, run, statement.batch_id, sha256)
    if opened:
        audit.record(session, actor_id=None, actor_name=_actor(source), action="bank_statement.conflict",
                     target_type="wage_run", target_id=run.id, business_key=run.workflow_id,
                     reason=f"a second, different statement for batch {statement.batch_id}",
                     detail={"statement_id": statement.statement_id, "batch_id": statement.batch_id,
                             "sha256": sha256, "file_id": stored.id})


def _store_statement(session, services: Services, run: WageRun, statement: Statement, body: bytes,
                     source: str) -> IntakeResult:
    """Store the batch's first statement (blob, row, audit row)."""
    stored = services.blobs.store(session, body, "application/json", f"{statement.statement_id}.stmt.json")
    session.add(BankStatement(statement_id=statement.statement_id, batch_id=statement.batch_id,
                              body_sha256=stored.sha256, file_id=stored.id))
    audit.record(session, actor_id=None, actor_name=_actor(source), action="bank_statement.received",
                 target_type="wage_run", target_id=run.id, business_key=run.workflow_id,
                 detail={"statement_id": statement.statement_id, "batch_id": statement.batch_id,
                         "lines": len(statement.lines)})
    return IntakeResult(statement.statement_id, run.workflow_id, run.id, True)


def intake_statement(services: Services, body: bytes, bank_keys, source: str) -> IntakeResult:
    """Verify with the pinned `bank_keys` (keys.PinnedBankKeys, a key or a list of keys), check
    against the batch and store once. Raises StatementError (audited) when refused."""
    try:
        statement = verify_statement(body, bank_keys)
    except StatementError as exc:
        record_refusal(services, body, source, str(exc))
        raise
    sha256 = hashlib.sha256(body).hexdigest()
    batch = _checked_batch(services, body, source, statement)
    with services.Session.begin() as session:
        run = session.get(WageRun, batch.run_id)
        existing = session.scalar(select(BankStatement).where(BankStatement.statement_id == statement.statement_id))
        if existing is not None and existing.body_sha256 == sha256:
            return IntakeResult(statement.statement_id, run.workflow_id, run.id, False)  # a re-delivery
        earlier = session.scalar(select(func.count()).select_from(BankStatement).where(
            BankStatement.batch_id == statement.batch_id))
        if existing is not None or earlier:
            _keep_conflict(session, services, run, statement, body, sha256, source)
            conflict = StatementConflict(f"batch {statement.batch_id} already has a statement")
        else:
            conflict = None
            result = _store_statement(session, services, run, statement, body, source)
    if conflict is not None:  # raised once the evidence and the task are committed
        raise conflict
    return result
