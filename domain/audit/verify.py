"""Verifying the audit chain: a streaming walk in id order that names every changed, inserted,
deleted or reordered row, and a checkpoint whose head the walk must reach."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .chain import CHAIN, CHAIN_ID, GENESIS, LOG, checkpoint_mac, row_mac, same_digest

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
    elif not same_digest(chain["mac"], checkpoint_mac(key, chain)):
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
            and same_digest(r["row_hash"], row_mac(self.key, r["prev_hash"], r))

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
        self.head_seen = same_digest(chain["head_hash"], chain["base_hash"])

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
        self.head_seen = self.head_seen or same_digest(self.expected, self.chain["head_hash"])
        return True

    def _failed_hash(self, r: dict, rows: _RowStream) -> bool:
        """A row whose hash fails: changed in place (the chain runs through it) or inserted (False)."""
        next_claim, link_after = rows.look_ahead()
        if same_digest(next_claim, r["row_hash"]) or same_digest(link_after, r["row_hash"]):
            self.problems.append(Problem(r["id"], CHANGED, "contents do not match the row's hash"))
            self.expected, self.last_good_id = r["row_hash"], r["id"]
        elif same_digest(link_after, self.expected) or not same_digest(r["prev_hash"], self.expected):
            self.problems.append(Problem(r["id"], INSERTED, "row is not part of the chain (its hash is forged)"))
            return False
        else:  # contents and its hash column both altered; the chain runs through it
            self.problems.append(Problem(r["id"], CHANGED, "contents and hash do not match"))
            self.expected, self.last_good_id = link_after, r["id"]
        return True

    def _authentic(self, r: dict) -> None:
        """An authentic row: in place, or after a gap (deleted rows) or a link back (reordered)."""
        if not same_digest(r["prev_hash"], self.expected):
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
