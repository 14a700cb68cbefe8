"""Punch ingest (ATT-2…4): the one way a device's punches enter the platform, whatever channel
they came by (the signed API, the ZKTeco push protocol, the platform's own terminal).

`ingest(session, device, items, channel=…, received_at=…)` judges each item on its own and
answers one result per item, in order:
- `rejected` with its code (domain/processes/attendance.ItemError) when the item is malformed —
  the other items of the batch go on;
- `duplicate` when (device, seq) is already stored with the same content: a resend adds nothing
  (with other content it is `rejected`, `conflicting_resend`: nothing stored is ever overwritten);
- `quarantined` when the project has no admitted engagement of the worker the device named: the
  punch waits in `punch_quarantine` for the labour specialist, with the reference the device sent;
- `stored` otherwise: a `punch` row with the device's time as stated (`punched_at` = `device_time`,
  naive UTC) and the server's (`created_at` = `received_at`), the skew, flagged beyond 300 s but
  never dropped, and the photo in the blob store with its sha256.
The device's `last_contact_at` becomes `received_at`. The caller commits, and acknowledges the
batch only after the commit; a concurrent insert of the same (device, seq) fails the commit on the
unique constraint, and the caller runs the batch again, where it is then a duplicate.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .blobstore import BlobStore
from .models import AttendanceDevice, ProjectWorker, Punch, PunchQuarantine
from .processes.attendance import (
    IngestResult,
    ItemError,
    ItemOutcome,
    ItemResult,
    PunchChannel,
    PunchItem,
    QuarantineReason,
    WorkerRefKind,
    item_error,
    skew_flagged,
)

PHOTO_TYPE = "image/jpeg"


@dataclass(frozen=True)
class _Seen:
    """What is stored under a (device, seq): as a punch (worker and engagement) or quarantined (the
    reference the device sent), with its instant and direction."""

    time: datetime
    direction: str
    worker_id: Optional[int] = None
    engagement_id: Optional[int] = None
    quarantined_ref: Optional[str] = None

    def same(self, item: PunchItem, at: datetime) -> bool:
        """Whether `item` is a resend of this: the same reference, instant and direction."""
        if (self.time, self.direction) != (at, item.direction):
            return False
        if self.quarantined_ref is not None:
            return self.quarantined_ref == item.worker_ref
        named = self.engagement_id if item.ref_kind == WorkerRefKind.PIN else self.worker_id
        return str(named) == item.worker_ref


def dedupe_key(device_id: int, seq: int) -> str:
    return f"dev:{device_id}:{seq}"


def device_instant(value: datetime) -> datetime:
    """The device's time as stored: naive UTC to the second (every database keeps it alike)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None, microsecond=0)


def _stored(session: Session, device_id: int, seqs: Sequence[int]) -> dict[int, _Seen]:
    """What the device's seqs already hold, as punches or quarantined."""
    seen: dict[int, _Seen] = {}
    if not seqs:
        return seen
    wanted = set(seqs)

    def among(column):  # a batch is mostly consecutive numbers: one range of the (device, seq) index
        if seqs[-1] - seqs[0] < 4 * len(seqs):
            return column.between(seqs[0], seqs[-1])
        return column.in_(seqs)

    for seq, worker_id, pw_id, at, direction in session.execute(
            select(Punch.device_seq, Punch.worker_id, ProjectWorker.id, Punch.device_time, Punch.direction)
            .outerjoin(ProjectWorker, (ProjectWorker.worker_id == Punch.worker_id)
                       & (ProjectWorker.project_id == Punch.project_id))
            .where(Punch.device_id == device_id, among(Punch.device_seq))):
        if seq in wanted:
            seen[seq] = _Seen(at, direction, worker_id=worker_id, engagement_id=pw_id)
    for seq, ref, at, direction in session.execute(
            select(PunchQuarantine.device_seq, PunchQuarantine.worker_ref, PunchQuarantine.device_time,
                   PunchQuarantine.direction)
            .where(PunchQuarantine.device_id == device_id, among(PunchQuarantine.device_seq))):
        if seq in wanted:
            seen[seq] = _Seen(at, direction, quarantined_ref=ref)
    return seen


def _engagements(session: Session, project_id: int, items: Sequence[PunchItem]) -> dict[tuple[str, str], tuple[int, int]]:
    """(ref kind, ref) → (worker id, engagement id) for the admitted engagements the items name."""
    by_worker = {int(i.worker_ref) for i in items if i.ref_kind == WorkerRefKind.WORKER_ID and i.worker_ref.isdigit()}
    by_pin = {int(i.worker_ref) for i in items if i.ref_kind == WorkerRefKind.PIN and i.worker_ref.isdigit()}
    found: dict[tuple[str, str], tuple[int, int]] = {}
    admitted = select(ProjectWorker.worker_id, ProjectWorker.id).where(
        ProjectWorker.project_id == project_id, ProjectWorker.admitted_at.is_not(None))
    if by_worker:
        for worker_id, pw_id in session.execute(admitted.where(ProjectWorker.worker_id.in_(sorted(by_worker)))):
            found[(WorkerRefKind.WORKER_ID, str(worker_id))] = (worker_id, pw_id)
    if by_pin:
        for worker_id, pw_id in session.execute(admitted.where(ProjectWorker.id.in_(sorted(by_pin)))):
            found[(WorkerRefKind.PIN, str(pw_id))] = (worker_id, pw_id)
    return found


PUNCH_COLUMNS = ("dedupe_key", "project_id", "worker_id", "direction", "punched_at", "device_code", "match_score",
                 "created_at", "device_id", "device_seq", "device_time", "skew_seconds", "skew_flagged", "channel",
                 "photo_file_id", "photo_sha256")


def _executemany(connection, table, names: Sequence[str], rows: list[tuple]) -> None:
    """The driver's own executemany over tuples in `names` order, each value through its column
    type's bind processor (what SQLAlchemy would apply), column by column with the values already
    converted remembered (a batch's receipt time, a punch's device time twice): the hot path of a
    terminal's batch (docs/performance.md)."""
    dialect = connection.dialect
    data = [list(r) for r in rows]
    memos: dict[type, dict] = {}
    for i, name in enumerate(names):
        kind = table.c[name].type
        process = kind.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            continue
        memo = memos.setdefault(type(kind), {})
        for row in data:
            value = row[i]
            converted = memo.get(value, memo)
            if converted is memo:
                converted = memo[value] = process(value)
            row[i] = converted
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"
    connection.exec_driver_sql(sql, [tuple(row) for row in data])


class _Batch:
    """The rows one ingest call writes, and its results in item order."""

    def __init__(self, session: Session, device: AttendanceDevice, channel: PunchChannel, received_at: datetime,
                 blobs: Optional[BlobStore]):
        self.session, self.device, self.channel, self.blobs = session, device, channel, blobs
        self.received_at = device_instant(received_at)
        self.punches: list[tuple] = []
        self.quarantine: list[dict] = []
        self.results: list[ItemResult] = []
        self.taken: dict[int, _Seen] = {}

    def reject(self, index: int, item: PunchItem, code: ItemError, field: str) -> None:
        self.results.append(ItemResult(index, item.seq, ItemOutcome.REJECTED, code, field))

    def known(self, index: int, item: PunchItem, seen: _Seen, at: datetime, conflict: ItemError) -> None:
        """A seq already stored (earlier, or earlier in this batch): a duplicate if the content agrees."""
        if seen.same(item, at):
            self.results.append(ItemResult(index, item.seq, ItemOutcome.DUPLICATE))
        else:
            self.reject(index, item, conflict, "seq")

    def quarantined(self, index: int, item: PunchItem, at: datetime) -> None:
        self.quarantine.append({
            "device_id": self.device.id, "device_seq": item.seq, "project_id": self.device.project_id,
            "worker_ref": item.worker_ref, "direction": item.direction, "device_time": at,
            "received_at": self.received_at, "reason": QuarantineReason.UNKNOWN_WORKER})
        self.results.append(ItemResult(index, item.seq, ItemOutcome.QUARANTINED))

    def stored(self, index: int, item: PunchItem, worker_id: int, at: datetime) -> None:
        skew = int((at - self.received_at).total_seconds())  # both naive UTC to the second: skew_seconds
        photo_id, photo_sha = self._photo(item)
        self.punches.append((  # PUNCH_COLUMNS
            dedupe_key(self.device.id, item.seq), self.device.project_id, worker_id, item.direction, at,
            self.device.serial, item.match_score, self.received_at, self.device.id, item.seq, at, skew,
            skew_flagged(skew), self.channel.value, photo_id, photo_sha))
        self.results.append(ItemResult(index, item.seq, ItemOutcome.STORED))

    def _photo(self, item: PunchItem) -> tuple[Optional[int], Optional[str]]:
        if item.photo is None:
            return None, item.photo_sha256
        if self.blobs is None:
            raise ValueError("a punch with a photo needs the blob store")
        digest = hashlib.sha256(item.photo).hexdigest()
        row = self.blobs.store(self.session, item.photo, PHOTO_TYPE,
                               f"punch-{self.device.serial}-{item.seq}.jpg")
        return row.id, digest

    def write(self) -> None:
        connection = self.session.connection()
        if self.punches:
            _executemany(connection, Punch.__table__, PUNCH_COLUMNS, self.punches)
        if self.quarantine:
            connection.execute(insert(PunchQuarantine.__table__), self.quarantine)
        self.device.last_contact_at = self.received_at


def ingest(session: Session, device: AttendanceDevice, items: Sequence[PunchItem], *, channel: PunchChannel,
           received_at: datetime, blobs: Optional[BlobStore] = None) -> IngestResult:
    """Judge and write a batch of one device's punches (see the module docstring); the caller commits."""
    batch = _Batch(session, device, channel, received_at, blobs)
    problems = [item_error(i, device.serial) for i in items]
    good = [i for i, problem in zip(items, problems) if problem is None]
    stored = _stored(session, device.id, sorted({i.seq for i in good}))
    workers = _engagements(session, device.project_id, good)
    for index, (item, problem) in enumerate(zip(items, problems)):
        if problem is not None:
            batch.reject(index, item, *problem)
            continue
        at = device_instant(item.time)
        engagement = workers.get((item.ref_kind, item.worker_ref))
        if item.seq in stored:
            batch.known(index, item, stored[item.seq], at, ItemError.CONFLICTING_RESEND)
            continue
        if item.seq in batch.taken:
            batch.known(index, item, batch.taken[item.seq], at, ItemError.SEQ_REPEATED_IN_BATCH)
            continue
        if engagement is None:
            batch.taken[item.seq] = _Seen(at, item.direction, quarantined_ref=item.worker_ref)
            batch.quarantined(index, item, at)
        else:
            batch.taken[item.seq] = _Seen(at, item.direction, worker_id=engagement[0], engagement_id=engagement[1])
            batch.stored(index, item, engagement[0], at)
    batch.write()
    return IngestResult(tuple(batch.results))
