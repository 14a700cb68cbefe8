"""Attendance devices on the platform (ATT-1, issue 11 point 1): registration with a serial and the
device's own secret, revocation, what the devices page shows (last contact, the quarantine backlog,
sequence gaps) and the labour specialist's resolution of a quarantined punch.

The secret is 32 random bytes, returned once as 64 hex digits by `register_device` (the page shows
it once; it is provisioned onto the device out of band) and stored sealed with the PII cipher
(context `device_secret`); a ZKTeco device has none (its protocol signs nothing). A revoked device
keeps its rows and is refused by every channel. Every change is audited.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import audit, scope
from .errors import CodedError
from .models import AttendanceDevice, ProjectWorker, Punch, PunchQuarantine, utcnow
from .pii import PiiCipher
from .processes.attendance import (
    SECRET_BYTES,
    SECRET_CONTEXT,
    DeviceKind,
    DeviceProtocol,
    DeviceRefusal,
    DeviceStatus,
    PunchChannel,
    WorkerRefKind,
    parse_sources,
    skew_flagged,
    skew_seconds,
    valid_serial,
)
from .punches import dedupe_key

DEVICE = "attendance_device"
QUARANTINE = "punch_quarantine"


class DeviceError(CodedError):
    """A refused registration, revocation or resolution; `code` is a DeviceRefusal."""


@dataclass(frozen=True)
class Actor:
    account_id: int
    name: str
    remote_addr: str = ""


def _audit(session: Session, actor: Actor, action: str, target_type: str, target_id, detail: dict) -> None:
    audit.record(session, actor_id=actor.account_id, actor_name=actor.name, action=action,
                 target_type=target_type, target_id=target_id, detail=detail, remote_addr=actor.remote_addr[:64])


def register_device(session: Session, cipher: PiiCipher, actor: Actor, *, project_id: int, serial: str,
                    kind: str, protocol: str, allowed_sources: str = "") -> tuple[AttendanceDevice, Optional[str]]:
    """The new device and its secret in hex (None for ZKTeco); the caller commits and shows it once."""
    serial = (serial or "").strip()
    if not valid_serial(serial):
        raise DeviceError(DeviceRefusal.BAD_SERIAL)
    if kind not in tuple(DeviceKind):
        raise DeviceError(DeviceRefusal.BAD_KIND)
    if protocol not in tuple(DeviceProtocol):
        raise DeviceError(DeviceRefusal.BAD_PROTOCOL)
    sources = parse_sources(allowed_sources or "")
    if sources is None or len(",".join(sources)) > 500:
        raise DeviceError(DeviceRefusal.BAD_SOURCES)
    if session.scalar(select(AttendanceDevice.id).where(AttendanceDevice.serial == serial)
                      .execution_options(**{scope.BYPASS: True})) is not None:  # unique platform-wide
        raise DeviceError(DeviceRefusal.SERIAL_TAKEN)
    secret = secrets.token_hex(SECRET_BYTES) if protocol == DeviceProtocol.API else None
    device = AttendanceDevice(project_id=project_id, serial=serial, kind=kind, protocol=protocol,
                              secret_enc=cipher.encrypt(secret, SECRET_CONTEXT) if secret else None,
                              allowed_sources=",".join(sources), status=DeviceStatus.ACTIVE, created_at=utcnow())
    session.add(device)
    try:
        session.flush()
    except IntegrityError as exc:  # registered concurrently under the same serial
        raise DeviceError(DeviceRefusal.SERIAL_TAKEN) from exc
    _audit(session, actor, "attendance_device.register", DEVICE, device.id,
           {"serial": serial, "kind": kind, "protocol": protocol, "project_id": project_id,
            "allowed_sources": device.allowed_sources})
    return device, secret


def revoke_device(session: Session, actor: Actor, device: AttendanceDevice) -> None:
    if device.status == DeviceStatus.REVOKED:
        raise DeviceError(DeviceRefusal.ALREADY_REVOKED)
    device.status, device.revoked_at = DeviceStatus.REVOKED, utcnow()
    _audit(session, actor, "attendance_device.revoke", DEVICE, device.id, {"serial": device.serial})


def device_secret(cipher: PiiCipher, device: AttendanceDevice) -> Optional[str]:
    return cipher.decrypt(device.secret_enc, SECRET_CONTEXT) if device.secret_enc else None


def find_by_serial(session: Session, serial: str) -> Optional[AttendanceDevice]:
    return session.scalar(select(AttendanceDevice).where(AttendanceDevice.serial == serial))


# --- what the devices page shows -------------------------------------------------------------------


def first_seq(device: AttendanceDevice) -> Optional[int]:
    """Where a device's gaps are counted from: the API's devices number their punches from 1; a
    ZKTeco device's numbering starts wherever it was first heard."""
    return 1 if device.protocol == DeviceProtocol.API else None


def sequence_gaps(session: Session, device: AttendanceDevice) -> list[tuple[int, int]]:
    """Missing sequence numbers (inclusive ranges) among the device's stored and quarantined punches,
    computed in the database (one row per gap, whatever the number of punches)."""
    seqs = union_all(select(Punch.device_seq.label("seq")).where(Punch.device_id == device.id),
                     select(PunchQuarantine.device_seq.label("seq"))
                     .where(PunchQuarantine.device_id == device.id)).subquery()
    ordered = select(seqs.c.seq, func.lag(seqs.c.seq).over(order_by=seqs.c.seq).label("prev")).subquery()
    rows = session.execute(select(ordered.c.prev, ordered.c.seq)
                           .where((ordered.c.prev.is_(None)) | (ordered.c.seq - ordered.c.prev > 1))
                           .order_by(ordered.c.seq)).all()
    gaps: list[tuple[int, int]] = []
    start = first_seq(device)
    for prev, seq in rows:
        if prev is None:
            if start is not None and seq > start:
                gaps.append((start, seq - 1))
        else:
            gaps.append((prev + 1, seq - 1))
    return gaps


@dataclass(frozen=True)
class DeviceRow:
    device: AttendanceDevice
    punches: int
    backlog: int  # quarantined, unresolved
    skewed: int
    gaps: list[tuple[int, int]]

    @property
    def missing(self) -> int:
        return sum(last - first + 1 for first, last in self.gaps)


def _count_by_device(session: Session, column, *where) -> dict[int, int]:
    return dict(session.execute(select(column, func.count()).where(*where).group_by(column)).all())


def project_devices(session: Session, project_id: int) -> list[DeviceRow]:
    devices = list(session.scalars(select(AttendanceDevice).where(AttendanceDevice.project_id == project_id)
                                   .order_by(AttendanceDevice.serial)))
    ids = [d.id for d in devices] or [0]
    punches = _count_by_device(session, Punch.device_id, Punch.device_id.in_(ids))
    skewed = _count_by_device(session, Punch.device_id, Punch.device_id.in_(ids), Punch.skew_flagged.is_(True))
    backlog = _count_by_device(session, PunchQuarantine.device_id, PunchQuarantine.device_id.in_(ids),
                               PunchQuarantine.resolved_at.is_(None))
    return [DeviceRow(d, punches.get(d.id, 0), backlog.get(d.id, 0), skewed.get(d.id, 0), sequence_gaps(session, d))
            for d in devices]


def open_quarantine(session: Session, project_id: int, limit: int = 200) -> list[PunchQuarantine]:
    return list(session.scalars(select(PunchQuarantine).where(
        PunchQuarantine.project_id == project_id, PunchQuarantine.resolved_at.is_(None))
        .order_by(PunchQuarantine.device_time, PunchQuarantine.id).limit(limit)))


# --- resolving a quarantined punch -----------------------------------------------------------------


def _channel(device: AttendanceDevice) -> PunchChannel:
    return PunchChannel.ZKTECO if device.protocol == DeviceProtocol.ZKTECO else PunchChannel.API


def _engagement_named(session: Session, device: AttendanceDevice, ref: str) -> Optional[ProjectWorker]:
    if not ref.isdigit():
        return None
    kind = WorkerRefKind.PIN if device.protocol == DeviceProtocol.ZKTECO else WorkerRefKind.WORKER_ID
    column = ProjectWorker.id if kind == WorkerRefKind.PIN else ProjectWorker.worker_id
    return session.scalar(select(ProjectWorker).where(
        ProjectWorker.project_id == device.project_id, column == int(ref), ProjectWorker.admitted_at.is_not(None)))


def resolve_quarantine(session: Session, actor: Actor, row: PunchQuarantine, *, store: bool) -> Optional[Punch]:
    """Close a quarantined punch: `store` it as the punch of the worker its reference now names (the
    worker has been admitted since), or dismiss it. Refused when already resolved, or when storing
    and the reference still names no admitted worker of the project."""
    if row.resolved_at is not None:
        raise DeviceError(DeviceRefusal.ALREADY_RESOLVED)
    device = session.get(AttendanceDevice, row.device_id)
    punch = None
    if store:
        engagement = _engagement_named(session, device, row.worker_ref)
        if engagement is None:
            raise DeviceError(DeviceRefusal.WORKER_STILL_UNKNOWN)
        skew = skew_seconds(row.device_time, row.received_at)
        punch = Punch(dedupe_key=dedupe_key(device.id, row.device_seq), project_id=row.project_id,
                      worker_id=engagement.worker_id, direction=row.direction, punched_at=row.device_time,
                      device_code=device.serial, created_at=row.received_at, device_id=device.id,
                      device_seq=row.device_seq, device_time=row.device_time, skew_seconds=skew,
                      skew_flagged=skew_flagged(skew), channel=_channel(device))
        session.add(punch)
    row.resolved_at, row.resolved_by = utcnow(), actor.account_id
    session.flush()
    _audit(session, actor, "punch_quarantine.store" if store else "punch_quarantine.dismiss", QUARANTINE, row.id,
           {"device_id": row.device_id, "device_seq": row.device_seq, "punch_id": punch.id if punch else None})
    return punch
