"""Audit rows: who did what to which record, when and why (DESIGN decision 7), in a tamper-evident
hash chain (SEC-3, docs/audit.md).

`record()` only queues the row on the session. When that session commits, `_chain_pending` (a
`before_commit` hook) takes the chain lock by updating the one `audit_chain` checkpoint row, inserts
the queued rows and links each to the one before:

    row_hash = HMAC-SHA256(audit key, "shiming-audit-v1\\n" + prev_hash + "\\n" + canonical(row))

The checkpoint (head: newest chained row; base: last pruned row) carries its own HMAC. Writers in
any number of processes are serialized by that row lock for the few statements before their
commit, so ids grow in chain order and the chain cannot fork. `verify()` walks the rows in id order
and names every changed, inserted or deleted row. Application code cannot edit or delete audit
rows: ORM updates and deletes of `AuditLog` raise.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Optional

from sqlalchemy import Engine, bindparam, event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .models import AuditChain, AuditLog, utcnow

GENESIS = "0" * 64
CHAIN_ID = 1
_PENDING = "shiming.audit.pending"
_MAINTENANCE = "audit_maintenance"  # execution option of this module's own statements on audit rows
FIELDS = ("id", "actor_id", "actor_name", "action", "target_type", "target_id", "business_key", "reason",
          "detail", "remote_addr", "created_at")

LOG = AuditLog.__table__
CHAIN = AuditChain.__table__


class AuditChainError(RuntimeError):
    """The chain cannot be extended or pruned safely (its checkpoint fails its MAC, or the key is missing)."""


class AuditRowImmutable(RuntimeError):
    """Audit rows are append-only."""


# ---- the key -------------------------------------------------------------------------------------

_KEYS: "weakref.WeakKeyDictionary[Engine, bytes]" = weakref.WeakKeyDictionary()


def use_key(engine: Engine, key: bytes) -> None:
    """Chain the audit rows written through `engine` with `key` (called by Services.build)."""
    if not key:
        raise AuditChainError("the audit key is empty")
    _KEYS[engine] = bytes(key)


def _key_for(session: Session) -> bytes:
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


def _same(a: Optional[str], b: Optional[str]) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a, b)


# ---- writing -------------------------------------------------------------------------------------


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


def _lock_chain(session: Session) -> Optional[dict]:
    """Take the chain lock (a write to the checkpoint row, so SQLite takes its write lock before any
    read of the chain) and return the checkpoint, or None when the row is missing."""
    session.execute(CHAIN.update().where(CHAIN.c.id == CHAIN_ID).values(updated_at=utcnow())
                    .execution_options(**{_MAINTENANCE: True}))
    row = session.execute(select(CHAIN).where(CHAIN.c.id == CHAIN_ID)).mappings().first()
    return dict(row) if row is not None else None


def _checked_checkpoint(session: Session, key: bytes) -> dict:
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
    elif not _same(chain["mac"], checkpoint_mac(key, chain)):
        raise AuditChainError("the audit chain checkpoint fails its MAC; run `shiming audit verify`")
    return chain


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
                        .execution_options(**{_MAINTENANCE: True}), params)
    return hashes


def _save_checkpoint(session: Session, key: bytes, chain: dict) -> None:
    chain["mac"] = checkpoint_mac(key, chain)
    session.execute(CHAIN.update().where(CHAIN.c.id == CHAIN_ID).values(
        chain_seq=chain["chain_seq"], head_id=chain["head_id"], head_hash=chain["head_hash"],
        base_seq=chain["base_seq"], base_id=chain["base_id"], base_hash=chain["base_hash"], mac=chain["mac"],
        updated_at=utcnow()).execution_options(**{_MAINTENANCE: True}))


@event.listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    pending: list[AuditLog] = session.info.pop(_PENDING, None)
    if not pending:
        return
    key = _key_for(session)
    session.flush()  # the caller's own changes first, so the chain lock is held only for what follows
    chain = _checked_checkpoint(session, key)
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
    _save_checkpoint(session, key, chain)


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
    if not (state.is_update or state.is_delete) or state.execution_options.get(_MAINTENANCE):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in (LOG.name, CHAIN.name):
        raise AuditRowImmutable("audit rows and the audit chain cannot be changed: the audit log is append-only")


# ---- verifying -----------------------------------------------------------------------------------

CHANGED, INSERTED, DELETED, OUT_OF_ORDER, CHECKPOINT = "changed", "inserted", "deleted", "out of order", "checkpoint"


MAX_LISTED = 1000  # problems printed by Report.format (a wrong key makes every row one)


@dataclass
class Problem:
    row_id: Optional[int]
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row_id}" if self.row_id is not None else "chain"
        return f"{self.kind.upper():12} {where}: {self.message}"


@dataclass
class Report:
    rows: int = 0  # rows in the table
    chained: int = 0  # rows that are intact and in place
    pruned: int = 0
    head_id: Optional[int] = None
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = []
        if self.ok:
            lines.append(f"OK: {self.chained} audit rows, chain intact"
                         + (f" ({self.pruned} older rows pruned under the retention policy)" if self.pruned else ""))
        else:
            lines.append(f"PROBLEMS: {len(self.problems)} in {self.rows} audit rows")
            lines.extend(f"  {p}" for p in self.problems[:MAX_LISTED])
            if len(self.problems) > MAX_LISTED:
                lines.append(f"  ... and {len(self.problems) - MAX_LISTED} more")
        if self.note:
            lines.append(self.note)
        lines.append(f"head: row {self.head_id} {self.head_hash}")
        return "\n".join(lines)


def _short(h: str) -> int:
    return int(h[:16], 16)


def verify(session: Session, key: bytes) -> Report:
    """Walk the chain in id order, streaming the rows; memory holds an 8-byte prefix per row, plus
    look-ahead rows only past a row that fails its hash. The checkpoint is read before the rows, so rows
    committed while this runs are checked too and are not mistaken for problems."""
    report = Report()
    chain, checked = _read_checkpoint(session, key, report)
    if chain is None:  # the chain has not started: nothing to walk
        return report
    report.pruned, report.head_id, report.head_hash = chain["base_seq"], chain["head_id"], chain["head_hash"]
    walk = _ChainWalk(chain, report.problems)
    rows = _RowStream(session, key, chain["head_hash"])
    while (item := rows.take()) is not None:
        report.rows += 1
        if walk.step(*item, rows):
            report.chained += 1
    if checked:
        walk.check_head()
    return report


_NO_CHECKPOINT = dict(chain_seq=0, head_id=None, head_hash=GENESIS, base_seq=0, base_id=None, base_hash=GENESIS,
                      mac=None)


def _read_checkpoint(session: Session, key: bytes, report: Report) -> tuple[Optional[dict], bool]:
    """The checkpoint to walk against, and whether it is one whose head the walk must reach (present
    and sealed); (None, False) when the chain has not started (the report then says so)."""
    chain_row = session.execute(select(CHAIN).where(CHAIN.c.id == CHAIN_ID)).mappings().first()
    if chain_row is None:
        report.problems.append(Problem(None, CHECKPOINT, "the checkpoint row (audit_chain id 1) is missing"))
        return dict(_NO_CHECKPOINT), False
    chain = dict(chain_row)
    if chain["mac"] is None:
        hashed = session.scalar(select(func.count()).select_from(LOG).where(LOG.c.row_hash.is_not(None)))
        if not (chain["chain_seq"] or hashed):
            report.rows = session.scalar(select(func.count()).select_from(LOG))
            if report.rows:
                report.note = (f"the chain has not started: {report.rows} rows written before SEC-3 are "
                               "chained by the next audited commit")
            return None, False
        report.problems.append(Problem(None, CHECKPOINT, "the checkpoint was reset to its initial state"))
    elif not _same(chain["mac"], checkpoint_mac(key, chain)):
        report.problems.append(Problem(None, CHECKPOINT, "the checkpoint (head/base) fails its MAC: changed in the "
                                                         "database, or SHIMING_AUDIT_KEY is not the key that wrote it"))
    return chain, chain["mac"] is not None


class _RowStream:
    """The audit rows in id order, each with whether its hash is authentic, streamed; rows read ahead
    of the walk (past a row that fails its hash) wait in `ahead`."""

    def __init__(self, session: Session, key: bytes, head_hash: str):
        self.key, self.head_hash = key, head_hash
        self.stream = ((r, self.authentic(r)) for r in map(dict, session.execute(
            select(LOG).order_by(LOG.c.id).execution_options(stream_results=True)).mappings()))
        self.ahead: deque = deque()  # rows read but not walked yet
        self.ahead_good: deque = deque()  # the authentic ones among them
        self.ahead_claims: deque = deque()  # those with a prev_hash (claiming a place in the chain)

    def authentic(self, r: dict) -> bool:
        return r["row_hash"] is not None and r["prev_hash"] is not None \
            and _same(r["row_hash"], row_mac(self.key, r["prev_hash"], r))

    def take(self) -> Optional[tuple[dict, bool]]:
        item = next(self.stream, None) if not self.ahead else self.ahead.popleft()
        if item is not None and self.ahead_good and self.ahead_good[0] is item:
            self.ahead_good.popleft()
        if item is not None and self.ahead_claims and self.ahead_claims[0] is item:
            self.ahead_claims.popleft()
        return item

    def look_ahead(self) -> tuple[Optional[str], Optional[str]]:
        """prev_hash of the next row claiming a place and of the next authentic row (the head after the last)."""
        while not self.ahead_good:
            item = next(self.stream, None)
            if item is None:
                break
            self.ahead.append(item)
            if item[0]["prev_hash"] is not None:
                self.ahead_claims.append(item)
            if item[1]:
                self.ahead_good.append(item)
        claim = self.ahead_claims[0][0]["prev_hash"] if self.ahead_claims else self.head_hash
        good = self.ahead_good[0][0]["prev_hash"] if self.ahead_good else self.head_hash
        return claim, good


class _ChainWalk:
    """Where the walk is: the hash the next row must link to, the last row in place, the 8-byte
    prefixes of the hashes seen (to tell a reordered row from a deleted one), whether the head was met."""

    def __init__(self, chain: dict, problems: list[Problem]):
        self.chain, self.problems = chain, problems
        self.expected = chain["base_hash"]  # hash of the row before the next one
        self.last_good_id = chain["base_id"]
        self.seen = {_short(chain["base_hash"])}
        self.head_seen = _same(chain["head_hash"], chain["base_hash"])

    def step(self, r: dict, ok: bool, rows: _RowStream) -> bool:
        """Judge one row; True when it counts as chained (intact or changed in place)."""
        base_id = self.chain["base_id"]
        if base_id is not None and r["id"] <= base_id:
            self.problems.append(Problem(r["id"], INSERTED, f"row at or before the pruned base (row {base_id})"))
            return False
        if r["row_hash"] is None or r["prev_hash"] is None:
            self.problems.append(Problem(r["id"], INSERTED, "row without a hash: not written through the audit chain"))
            return False
        if not ok:
            if not self._failed_hash(r, rows):
                return False
        else:
            self._authentic(r)
        self.seen.add(_short(self.expected))
        self.head_seen = self.head_seen or _same(self.expected, self.chain["head_hash"])
        return True

    def _failed_hash(self, r: dict, rows: _RowStream) -> bool:
        """A row whose hash fails: changed in place (the chain runs through it) or inserted (False)."""
        next_claim, link_after = rows.look_ahead()
        if _same(next_claim, r["row_hash"]) or _same(link_after, r["row_hash"]):
            self.problems.append(Problem(r["id"], CHANGED, "contents do not match the row's hash"))
            self.expected, self.last_good_id = r["row_hash"], r["id"]
        elif _same(link_after, self.expected) or not _same(r["prev_hash"], self.expected):
            self.problems.append(Problem(r["id"], INSERTED, "row is not part of the chain (its hash is forged)"))
            return False
        else:  # contents and its hash column both altered; the chain runs through it
            self.problems.append(Problem(r["id"], CHANGED, "contents and hash do not match"))
            self.expected, self.last_good_id = link_after, r["id"]
        return True

    def _authentic(self, r: dict) -> None:
        """An authentic row: in place, or after a gap (deleted rows) or a link back (reordered)."""
        if not _same(r["prev_hash"], self.expected):
            if _short(r["prev_hash"]) in self.seen:
                self.problems.append(Problem(r["id"], OUT_OF_ORDER,
                                             "row links to an earlier row than the one before it (reordered or forked)"))
            else:
                after = f"after row {self.last_good_id}" if self.last_good_id is not None else "at the start"
                self.problems.append(Problem(r["id"], DELETED, f"row(s) missing {after}, before row {r['id']}"))
        self.expected, self.last_good_id = r["row_hash"], r["id"]

    def check_head(self) -> None:
        """The walk must have met the checkpoint's head: else the newest rows were deleted."""
        if self.head_seen:
            return
        after = f"after row {self.last_good_id}" if self.last_good_id is not None else "from the start"
        self.problems.append(Problem(self.chain["head_id"], DELETED,
                                     f"the newest row(s) are missing: the chain's head is row {self.chain['head_id']}, "
                                     f"the table ends {after}"))


# ---- retention -----------------------------------------------------------------------------------


@dataclass
class PruneResult:
    removed: int
    base_id: Optional[int]
    cutoff: datetime


def prune(session: Session, key: bytes, retention_days: int, *, now: Optional[datetime] = None,
          dry_run: bool = False) -> PruneResult:
    """Remove the oldest rows (a prefix in id order) older than `retention_days`, after verifying the
    whole chain. The last removed row's hash becomes the MACed base the chain is verified from."""
    from .settings import MIN_AUDIT_RETENTION_DAYS

    if retention_days < MIN_AUDIT_RETENTION_DAYS:
        raise AuditChainError(f"audit retention must be at least {MIN_AUDIT_RETENTION_DAYS} days")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    chain = _checked_checkpoint(session, key)  # the chain lock: no one appends while we prune
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
    session.execute(LOG.delete().where(LOG.c.id <= last.id).execution_options(**{_MAINTENANCE: True}))
    chain.update(base_seq=chain["base_seq"] + count, base_id=last.id, base_hash=last.row_hash)
    _save_checkpoint(session, key, chain)
    return PruneResult(count, last.id, cutoff)
