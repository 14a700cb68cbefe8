"""Writing audit rows: `record()` queues a row on the session; when the session commits, a
`before_commit` hook takes the chain lock, inserts the queued rows and links each to the one before.
ORM updates and deletes of audit rows raise: the log is append-only."""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..models import AuditLog, utcnow
from .chain import CHAIN, LOG, MAINTENANCE, checked_checkpoint, key_for, row_mac, save_checkpoint

_PENDING = "shiming.audit.pending"


class AuditRowImmutable(RuntimeError):
    """Audit rows are append-only."""


def record(
    session: Session,
    *,
    actor_id: Optional[int],
    actor_name: str,
    action: str,
    target_type: str,
    target_id: Any,
    business_key: Optional[str] = None,
    reason: Optional[str] = None,
    detail: Optional[dict] = None,
    remote_addr: Optional[str] = None,
) -> AuditLog:
    """Queue an audit row; it is inserted and chained when `session` commits (dropped on rollback)."""
    row = AuditLog(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        business_key=business_key,
        reason=reason,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None,
        remote_addr=remote_addr,
        created_at=utcnow(),
    )
    session.info.setdefault(_PENDING, []).append(row)
    return row


def _link(session: Session, key: bytes, chain: dict, ids_and_values: Iterable[tuple[int, dict]]) -> list[tuple[str, str]]:
    hashes, params = [], []
    for row_id, values in ids_and_values:
        prev = chain["head_hash"]
        row_hash = row_mac(key, prev, values)
        chain.update(chain_seq=chain["chain_seq"] + 1, head_id=row_id, head_hash=row_hash)
        hashes.append((prev, row_hash))
        params.append({"row_id": row_id, "prev": prev, "hash": row_hash})
    if params:
        session.execute(LOG.update().where(LOG.c.id == bindparam("row_id"))
                        .values(prev_hash=bindparam("prev"), row_hash=bindparam("hash"))
                        .execution_options(**{MAINTENANCE: True}), params)
    return hashes


@event.listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    pending: list[AuditLog] = session.info.pop(_PENDING, None)
    if not pending:
        return
    key = key_for(session)
    session.flush()  # the caller's own changes first, so the chain lock is held only for what follows
    chain = checked_checkpoint(session, key)
    if chain["mac"] is None:  # the first audited commit: chain rows written before SEC-3, in id order
        legacy = session.execute(select(LOG).where(LOG.c.row_hash.is_(None)).order_by(LOG.c.id)).mappings().all()
        _link(session, key, chain, ((r["id"], dict(r)) for r in legacy))
    session.add_all(pending)
    session.flush()  # ids are given out under the chain lock, so id order is chain order
    ids = [row.id for row in pending]
    stored = {r["id"]: dict(r) for r in session.execute(select(LOG).where(LOG.c.id.in_(ids))).mappings()}
    # hash what the database holds (as verify() will read it back), not the Python values given
    hashes = _link(session, key, chain, ((row_id, stored[row_id]) for row_id in ids))
    for row, (prev, row_hash) in zip(pending, hashes):
        set_committed_value(row, "prev_hash", prev)
        set_committed_value(row, "row_hash", row_hash)
    save_checkpoint(session, key, chain)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without commit: its rows are dropped
        session.info.pop(_PENDING, None)


# ---- append-only guards --------------------------------------------------------------------------


@event.listens_for(AuditLog, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    raise AuditRowImmutable(f"audit row {target.id} cannot be changed: the audit log is append-only")


@event.listens_for(AuditLog, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise AuditRowImmutable(f"audit row {target.id} cannot be deleted: the audit log is append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(MAINTENANCE):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in (LOG.name, CHAIN.name):
        raise AuditRowImmutable("audit rows and the audit chain cannot be changed: the audit log is append-only")
