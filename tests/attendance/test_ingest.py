"""domain/punches.ingest on every supported database (SQLite, and MariaDB when configured): the
channel-independent rules the API, the ZKTeco push protocol and the terminal share."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from domain import attendance_devices as devices
from domain.models import ProjectWorker, Punch, PunchQuarantine, utcnow
from domain.processes.attendance import (
    DeviceProtocol,
    ItemError,
    ItemOutcome,
    PunchChannel,
    PunchItem,
    WorkerRefKind,
)
from domain.punches import ingest
from tests.helpers import attendance as att

UTC8 = timezone(timedelta(hours=8))


def punch(seq: int, ref, at: datetime, direction: str = "in", kind=WorkerRefKind.WORKER_ID, **kw) -> PunchItem:
    return PunchItem(seq=seq, worker_ref=str(ref), time=at, direction=direction, ref_kind=kind, **kw)


def run(svc, serial: str, items, channel=PunchChannel.API, received_at=None):
    with svc.Session.begin() as db:
        device = devices.find_by_serial(db, serial)
        result = ingest(db, device, items, channel=channel, received_at=received_at or utcnow(), blobs=svc.blobs)
    return [(r.outcome, r.code) for r in result.results]


def test_ingest_by_pin_keeps_its_channel_and_is_idempotent(any_db_services):
    svc = any_db_services
    s = att.site(svc, workers=3)
    att.register(svc, s, "ZK-PIN-1", protocol=DeviceProtocol.ZKTECO)
    with svc.Session() as db:
        pins = {pw.worker_id: pw.id for pw in db.scalars(select(ProjectWorker).where(ProjectWorker.project_id == s.project_id))}
    at = datetime(2026, 12, 3, 7, 30, 5, 123456, tzinfo=UTC8)
    items = [punch(1, pins[s.worker_ids[0]], at, kind=WorkerRefKind.PIN),
             punch(2, 987654, at, kind=WorkerRefKind.PIN),
             punch(3, pins[s.worker_ids[1]], at, direction="up", kind=WorkerRefKind.PIN)]
    assert run(svc, "ZK-PIN-1", items, PunchChannel.ZKTECO) == [
        (ItemOutcome.STORED, None), (ItemOutcome.QUARANTINED, None), (ItemOutcome.REJECTED, ItemError.BAD_DIRECTION)]
    assert run(svc, "ZK-PIN-1", items[:2], PunchChannel.ZKTECO) == [(ItemOutcome.DUPLICATE, None)] * 2
    with svc.Session() as db:
        stored = db.scalar(select(Punch).where(Punch.device_seq == 1))
        assert (stored.worker_id, stored.channel) == (s.worker_ids[0], PunchChannel.ZKTECO)
        assert stored.device_time == datetime(2026, 12, 2, 23, 30, 5)  # naive UTC, to the second
        assert db.scalar(select(func.count()).select_from(PunchQuarantine)) == 1
        assert devices.sequence_gaps(db, devices.find_by_serial(db, "ZK-PIN-1")) == []  # counted from the first seen


def test_skew_and_gaps_on_this_database(any_db_services):
    svc = any_db_services
    s = att.site(svc, workers=2)
    att.register(svc, s, "GATE-DB")
    received = datetime(2026, 12, 3, 0, 0, 0)
    w = s.worker_ids[0]
    run(svc, "GATE-DB", [punch(2, w, received + timedelta(seconds=299)), punch(3, w, received - timedelta(hours=3)),
                         punch(6, w, received), punch(10, 31337, received)], received_at=received)
    with svc.Session() as db:
        rows = {p.device_seq: (p.skew_seconds, p.skew_flagged) for p in db.scalars(select(Punch).where(
            Punch.device_id.is_not(None)))}
        assert rows == {2: (299, False), 3: (-10800, True), 6: (0, False)}
        device = devices.find_by_serial(db, "GATE-DB")
        assert devices.sequence_gaps(db, device) == [(1, 1), (4, 5), (7, 9)]
        [row] = devices.project_devices(db, s.project_id)
        assert (row.punches, row.backlog, row.skewed, row.missing) == (3, 1, 1, 6)
        assert device.last_contact_at == received
