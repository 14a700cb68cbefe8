"""Retention: pruning the oldest audit rows once the whole chain verifies; the last removed row's
hash becomes the checkpoint's MACed base."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import utcnow
from .chain import LOG, MAINTENANCE, AuditChainError, checked_checkpoint, save_checkpoint
from .verify import verify


@dataclass
class PruneResult:
    removed: int
    base_id: Optional[int]
    cutoff: datetime


def prune(session: Session, key: bytes, retention_days: int, *, now: Optional[datetime] = None,
          dry_run: bool = False) -> PruneResult:
    """Remove the oldest rows (a prefix in id order) older than `retention_days`, after verifying the
    whole chain. The last removed row's hash becomes the MACed base the chain is verified from."""
    from ..settings import MIN_AUDIT_RETENTION_DAYS

    if retention_days < MIN_AUDIT_RETENTION_DAYS:
        raise AuditChainError(f"audit retention must be at least {MIN_AUDIT_RETENTION_DAYS} days")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    chain = checked_checkpoint(session, key)  # the chain lock: no one appends while we prune
    if chain["mac"] is None:
        raise AuditChainError("the audit chain has not started yet; nothing to prune")
    report = verify(session, key)
    if not report.ok:
        raise AuditChainError("the audit chain has problems; pruning refused:\n" + report.format())
    first_kept = session.scalar(select(func.min(LOG.c.id)).where(LOG.c.created_at >= cutoff))
    doomed = select(LOG.c.id, LOG.c.row_hash).order_by(LOG.c.id.desc()).limit(1)
    if first_kept is not None:
        doomed = doomed.where(LOG.c.id < first_kept)
    last = session.execute(doomed).first()
    if last is None:
        return PruneResult(0, chain["base_id"], cutoff)
    count = session.scalar(select(func.count()).select_from(LOG).where(LOG.c.id <= last.id))
    if dry_run:
        return PruneResult(count, last.id, cutoff)
    session.execute(LOG.delete().where(LOG.c.id <= last.id).execution_options(**{MAINTENANCE: True}))
    chain.update(base_seq=chain["base_seq"] + count, base_id=last.id, base_hash=last.row_hash)
    save_checkpoint(session, key, chain)
    return PruneResult(count, last.id, cutoff)
