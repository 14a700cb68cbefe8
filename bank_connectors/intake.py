"""Platform-side statement intake: verify, store once, and name the wage run it answers.

Used by the HTTP callback (web) and the exchange-folder poller (worker). A statement with a bad
signature is refused and audited; a duplicate is recognised by the bank's statement id and
changes nothing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from domain import audit
from domain.models import BankBatch, BankStatement, WageRun
from domain.services import Services

from .wagefile import StatementError, verify_statement


@dataclass
class IntakeResult:
    statement_id: str
    workflow_id: str
    run_id: int
    new: bool


def intake_statement(services: Services, body: bytes, bank_signing_public_key, source: str) -> IntakeResult:
    try:
        statement = verify_statement(body, bank_signing_public_key)
    except StatementError as exc:
        with services.Session.begin() as session:
            audit.record(session, actor_id=None, actor_name=f"bank ({source})", action="bank_statement.refused",
                         target_type="bank_statement", target_id="-", reason=str(exc)[:200],
                         detail={"sha256": hashlib.sha256(body).hexdigest()})
        raise
    with services.Session.begin() as session:
        batch = session.scalar(select(BankBatch).where(BankBatch.batch_id == statement.batch_id))
        if batch is None:
            audit.record(session, actor_id=None, actor_name=f"bank ({source})", action="bank_statement.refused",
                         target_type="bank_statement", target_id=statement.statement_id, reason="unknown batch")
            raise StatementError("unknown_batch", statement.batch_id)
        run = session.get(WageRun, batch.run_id)
        existing = session.scalar(select(BankStatement).where(BankStatement.statement_id == statement.statement_id))
        if existing is not None:
            return IntakeResult(statement.statement_id, run.workflow_id, run.id, False)
        stored = services.blobs.store(session, body, "application/json", f"{statement.statement_id}.stmt.json")
        session.add(BankStatement(statement_id=statement.statement_id, batch_id=statement.batch_id,
                                  body_sha256=stored.sha256, file_id=stored.id))
        audit.record(session, actor_id=None, actor_name=f"bank ({source})", action="bank_statement.received",
                     target_type="wage_run", target_id=run.id, business_key=run.workflow_id,
                     detail={"statement_id": statement.statement_id, "batch_id": statement.batch_id,
                             "lines": len(statement.lines)})
        return IntakeResult(statement.statement_id, run.workflow_id, run.id, True)
