"""The audit chain's key, its hashes and its checkpoint (docs/audit.md).

    row_hash = HMAC-SHA256(audit key, "shiming-audit-v1\\n" + prev_hash + "\\n" + canonical(row))

The checkpoint (head: newest chained row; base: last pruned row) carries its own HMAC; updating
its one row is the chain lock that serializes writers in any number of processes.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ..models import AuditChain, AuditLog, utcnow

GENESIS = "0" * 64
CHAIN_ID = 1
MAINTENANCE = "audit_maintenance"  # execution option of this package's own statements on audit rows
FIELDS = ("id", "actor_id", "actor_name", "action", "target_type", "target_id", "business_key", "reason",
          "detail", "remote_addr", "created_at")

LOG = AuditLog.__table__
CHAIN = AuditChain.__table__


class AuditChainError(RuntimeError):
    """The chain cannot be extended or pruned safely (its checkpoint fails its MAC, or the key is missing)."""


# ---- the key -------------------------------------------------------------------------------------

_KEYS: "weakref.WeakKeyDictionary[Engine, bytes]" = weakref.WeakKeyDictionary()


def use_key(engine: Engine, key: bytes) -> None:
    """Chain the audit rows written through `engine` with `key` (called by Services.build)."""
    if not key:
        raise AuditChainError("the audit key is empty")
    _KEYS[engine] = bytes(key)


def key_for(session: Session) -> bytes:
    """The key `use_key` gave the session's engine."""
    bind = session.get_bind(mapper=AuditLog.__mapper__)
    engine = getattr(bind, "engine", bind)
    key = _KEYS.get(engine)
    if key is None:
        raise AuditChainError("no audit key configured for this database engine (domain.audit.use_key)")
    return key


# ---- hashing -------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def canonical(values: dict) -> bytes:
    """The row's fields as compact JSON in a fixed order (all but the hashes)."""
    return json.dumps([_value(values[name]) for name in FIELDS], ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def row_mac(key: bytes, prev_hash: str, values: dict) -> str:
    message = b"shiming-audit-v1\n" + prev_hash.encode("ascii") + b"\n" + canonical(values)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, chain: dict) -> str:
    values = [chain["chain_seq"], chain["head_id"], chain["head_hash"], chain["base_seq"], chain["base_id"],
              chain["base_hash"]]
    message = b"shiming-audit-chain-v1\n" + json.dumps(values, separators=(",", ":")).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def same_digest(a: Optional[str], b: Optional[str]) -> bool:
    """Two hex digests, both present and equal (compared in constant time)."""
    return a is not None and b is not None and hmac.compare_digest(a, b)


# ---- the checkpoint ------------------------------------------------------------------------------


def _lock_chain(session: Session) -> Optional[dict]:
    """Take the chain lock (a write to the checkpoint row, so SQLite takes its write lock before any
    read of the chain) and return the checkpoint, or None when the row is missing."""
    session.execute(CHAIN.update().where(CHAIN.c.id == CHAIN_ID).values(updated_at=utcnow())
                    .execution_options(**{MAINTENANCE: True}))
    row = session.execute(select(CHAIN).where(CHAIN.c.id == CHAIN_ID)).mappings().first()
    return dict(row) if row is not None else None


def checked_checkpoint(session: Session, key: bytes) -> dict:
    """The checkpoint under the chain lock (made on first use); refused when it fails its MAC or was reset."""
    chain = _lock_chain(session)
    if chain is None:
        if session.scalar(select(func.count()).select_from(LOG).where(LOG.c.row_hash.is_not(None))):
            raise AuditChainError("the audit chain checkpoint is missing; run `shiming audit verify`")
        chain = dict(id=CHAIN_ID, chain_seq=0, head_id=None, head_hash=GENESIS, base_seq=0, base_id=None,
                     base_hash=GENESIS, mac=None, updated_at=utcnow())
        session.execute(CHAIN.insert().values(**chain))
    if chain["mac"] is None:
        started = chain["chain_seq"] or session.scalar(
            select(func.count()).select_from(LOG).where(LOG.c.row_hash.is_not(None)))
        if started:
            raise AuditChainError("the audit chain checkpoint was reset; run `shiming audit verify`")
    elif not same_digest(chain["mac"], checkpoint_mac(key, chain)):
        raise AuditChainError("the audit chain checkpoint fails its MAC; run `shiming audit verify`")
    return chain


def save_checkpoint(session: Session, key: bytes, chain: dict) -> None:
    """Seal the checkpoint with its MAC and store it."""
    chain["mac"] = checkpoint_mac(key, chain)
    session.execute(CHAIN.update().where(CHAIN.c.id == CHAIN_ID).values(
        chain_seq=chain["chain_seq"], head_id=chain["head_id"], head_hash=chain["head_hash"],
        base_seq=chain["base_seq"], base_id=chain["base_id"], base_hash=chain["base_hash"], mac=chain["mac"],
        updated_at=utcnow()).execution_options(**{MAINTENANCE: True}))
