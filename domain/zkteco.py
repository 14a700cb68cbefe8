"""ZKTeco PUSH devices (ATT-6): the facts behind the /iclock endpoints.

- `admit_device` decides whether a request is taken: the serial is registered to a project with
  the ZKTeco protocol, the device is active, and the request comes from an allowed source
  (device.allowed_sources; empty: any). The protocol signs nothing (docs/zkteco.md).
- `take_attlog` turns ATTLOG records into punches through `domain.punches.ingest` (channel
  `zkteco`). A ZKTeco line carries no sequence number, so the platform gives each new line one:
  a line is the same punch as one stored (or quarantined) before when the device, the PIN's worker
  (or the PIN itself, for a quarantined one) and the device time agree; a resend then reuses that
  sequence number and `ingest` counts it a duplicate. New lines get the device's next numbers.
- `sync_commands` queues a user add for each admitted worker of the project (SiteAccessGrant) not
  yet sent to the device, and a user delete for each exit's SiteAccessRevocation;
  `hand_out` gives the queued ones to a polling device; `confirm` records the device's answers.
  A revocation is consumed (`consumed_at`) only when every active ZKTeco device of the project
  has confirmed its delete with `Return=0`; a failure stays on the command (`failed`, its code).
One upload or poll of a device at a time: each first writes the device's row (`lock_device`).
The caller commits, and answers the device only after the commit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import audit
from .models import (
    AttendanceDevice,
    DeviceCommand,
    Punch,
    PunchQuarantine,
    ProjectWorker,
    SiteAccessGrant,
    SiteAccessRevocation,
    Worker,
)
from .processes import zkteco as zk
from .processes.attendance import (
    DeviceProtocol,
    DeviceStatus,
    ItemOutcome,
    PunchChannel,
    PunchItem,
    WorkerRefKind,
    source_allowed,
)
from .processes.zkteco import CommandKind, CommandStatus, LineProblem, RequestRefusal
from .punches import ingest

RESEND_AFTER = timedelta(minutes=10)  # a command handed out and never answered goes out again
HAND_OUT_MAX = 100  # commands in one getrequest answer


def admit_device(session: Session, serial: str, remote_addr: str) -> tuple[Optional[AttendanceDevice],
                                                                          Optional[RequestRefusal]]:
    """(device, None) when the request is taken, else (device or None, the refusal)."""
    if not serial:
        return None, RequestRefusal.MISSING_SERIAL
    device = session.scalar(select(AttendanceDevice).where(AttendanceDevice.serial == serial))
    if device is None:
        return None, RequestRefusal.UNKNOWN_DEVICE
    if device.protocol != DeviceProtocol.ZKTECO:
        return device, RequestRefusal.WRONG_PROTOCOL
    if device.status != DeviceStatus.ACTIVE:
        return device, RequestRefusal.REVOKED_DEVICE
    if not source_allowed(device.allowed_sources, remote_addr or ""):
        return device, RequestRefusal.SOURCE_NOT_ALLOWED
    return device, None


# --- punches ---------------------------------------------------------------------------------------


@dataclass
class Taken:
    """What became of an ATTLOG upload: outcome counts and the lines refused, each with its code."""

    counts: dict = field(default_factory=dict)
    problems: list[LineProblem] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, ingest's code)

    @property
    def taken(self) -> int:
        """Lines the platform now has: stored, duplicates and quarantined."""
        return sum(self.counts.get(o, 0) for o in (ItemOutcome.STORED, ItemOutcome.DUPLICATE, ItemOutcome.QUARANTINED))


def lock_device(session: Session, device: AttendanceDevice, now: datetime) -> None:
    """Write the device's row first: one upload or poll of a device at a time (SQLite's write lock,
    InnoDB's row lock), so the reads that follow see every committed line and command."""
    session.execute(update(AttendanceDevice).where(AttendanceDevice.id == device.id).values(last_contact_at=now))


def _pin_workers(session: Session, project_id: int, pins: set[str]) -> dict[str, int]:
    """PIN -> worker id, for the PINs that are engagements of the project (admitted or not: the
    ingest decides what is quarantined)."""
    ids = [int(p) for p in pins if len(p) <= 10]
    rows = session.execute(select(ProjectWorker.id, ProjectWorker.worker_id).where(
        ProjectWorker.project_id == project_id, ProjectWorker.id.in_(ids))) if ids else []
    return {str(pw_id): worker_id for pw_id, worker_id in rows}


def _known_seqs(session: Session, device_id: int, times: set[datetime]) -> dict[tuple, int]:
    """(worker id or PIN, device time) -> sequence number, of the device's punches and quarantined
    punches at those times."""
    known: dict[tuple, int] = {}
    for worker_id, moment, seq in session.execute(select(Punch.worker_id, Punch.device_time, Punch.device_seq).where(
            Punch.device_id == device_id, Punch.device_time.in_(times))):
        known[("w", worker_id, moment)] = seq
    for ref, moment, seq in session.execute(select(
            PunchQuarantine.worker_ref, PunchQuarantine.device_time, PunchQuarantine.device_seq).where(
            PunchQuarantine.device_id == device_id, PunchQuarantine.device_time.in_(times))):
        known[("p", ref, moment)] = seq
    return known


def _next_seq(session: Session, device_id: int) -> int:
    last = max(session.scalar(select(func.max(Punch.device_seq)).where(Punch.device_id == device_id)) or 0,
               session.scalar(select(func.max(PunchQuarantine.device_seq)).where(
                   PunchQuarantine.device_id == device_id)) or 0)
    return last + 1


def _items(session: Session, device: AttendanceDevice, records: list[zk.AttRecord]) -> list[PunchItem]:
    """Punch items with their sequence numbers: a line seen before (as the worker's punch, or
    quarantined under its PIN) gets its old one, a new line the device's next."""
    times = {zk.device_time_utc(r.local_time) for r in records}
    workers = _pin_workers(session, device.project_id, {r.pin for r in records})
    known = _known_seqs(session, device.id, times) if times else {}
    next_seq, items = _next_seq(session, device.id), []
    for record in records:
        moment = zk.device_time_utc(record.local_time)
        keys = [("p", record.pin, moment)] + ([("w", workers[record.pin], moment)] if record.pin in workers else [])
        seq = next((known[k] for k in keys if k in known), None)
        if seq is None:
            seq, next_seq = next_seq, next_seq + 1
            known.update((k, seq) for k in keys)
        items.append(PunchItem(seq=seq, worker_ref=record.pin, time=moment, direction=record.direction,
                               ref_kind=WorkerRefKind.PIN))
    return items


def take_attlog(session: Session, device: AttendanceDevice, parsed: zk.Parsed, received_at: datetime) -> Taken:
    """Ingest the readable ATTLOG records; every unreadable or refused line is listed by number."""
    lock_device(session, device, received_at)
    records = [r for r in parsed.records if isinstance(r, zk.AttRecord)]
    taken = Taken(problems=list(parsed.problems))
    result = ingest(session, device, _items(session, device, records), channel=PunchChannel.ZKTECO,
                    received_at=received_at) if records else None
    taken.counts = result.summary() if result else {}
    for item in (result.results if result else ()):
        if item.outcome == ItemOutcome.REJECTED:
            taken.refused.append((records[item.index].line_no, str(item.code)))
    if taken.problems or taken.refused:
        audit.record(session, actor_id=None, actor_name="device", action="zkteco.lines_refused",
                     target_type="attendance_device", target_id=device.id, business_key=device.serial,
                     detail={"lines": [[p.line_no, p.code.value] for p in taken.problems] +
                             [[line, code] for line, code in taken.refused]})
    device.last_contact_at = received_at
    return taken


def take_operlog(session: Session, device: AttendanceDevice, parsed: zk.Parsed, received_at: datetime) -> int:
    """OPERLOG / USERINFO records are taken, not kept: the platform's own user list is the truth,
    and biometric records stay on the device (ENR-7). Users the device reports (enrolled or
    changed at the terminal itself) and unreadable lines are audited by PIN and line number."""
    users = sorted({r.pin for r in parsed.records if isinstance(r, zk.UserRecord)})
    if users or parsed.problems:
        audit.record(session, actor_id=None, actor_name="device", action="zkteco.operlog",
                     target_type="attendance_device", target_id=device.id, business_key=device.serial,
                     detail={"user_pins": users[:200], "lines": [[p.line_no, p.code.value] for p in parsed.problems]})
    device.last_contact_at = received_at
    return len(parsed.records)


# --- commands --------------------------------------------------------------------------------------


def _queue(session: Session, device: AttendanceDevice, kind: CommandKind, pw: ProjectWorker, now: datetime,
           grant_id: Optional[int] = None, revocation_id: Optional[int] = None) -> DeviceCommand:
    command = DeviceCommand(device_id=device.id, kind=kind, project_worker_id=pw.id, worker_id=pw.worker_id,
                            grant_id=grant_id, revocation_id=revocation_id, command_text="",
                            status=CommandStatus.QUEUED, created_at=now)
    session.add(command)
    session.flush()  # the id is part of the command line
    pin = str(pw.id)
    if kind == CommandKind.USER_ADD:
        name = session.scalar(select(Worker.name).where(Worker.id == pw.worker_id)) or ""
        command.command_text = zk.format_user_add(command.id, pin, name)
    else:
        command.command_text = zk.format_user_delete(command.id, pin)
    return command


def sync_commands(session: Session, device: AttendanceDevice, now: datetime) -> int:
    """Queue what the device does not have yet; returns how many commands were queued."""
    lock_device(session, device, now)
    revoked = set(session.scalars(select(SiteAccessRevocation.project_worker_id).where(
        SiteAccessRevocation.project_id == device.project_id)))
    added = set(session.scalars(select(DeviceCommand.grant_id).where(
        DeviceCommand.device_id == device.id, DeviceCommand.kind == CommandKind.USER_ADD)))
    deleted = set(session.scalars(select(DeviceCommand.revocation_id).where(
        DeviceCommand.device_id == device.id, DeviceCommand.kind == CommandKind.USER_DELETE)))
    queued = 0
    for grant in session.scalars(select(SiteAccessGrant).where(
            SiteAccessGrant.project_id == device.project_id).order_by(SiteAccessGrant.id)):
        if grant.id not in added and grant.project_worker_id not in revoked:
            _queue(session, device, CommandKind.USER_ADD, session.get(ProjectWorker, grant.project_worker_id), now,
                   grant_id=grant.id)
            queued += 1
    for revocation in session.scalars(select(SiteAccessRevocation).where(
            SiteAccessRevocation.project_id == device.project_id, SiteAccessRevocation.consumed_at.is_(None))
            .order_by(SiteAccessRevocation.id)):
        if revocation.id not in deleted:
            _queue(session, device, CommandKind.USER_DELETE,
                   session.get(ProjectWorker, revocation.project_worker_id), now, revocation_id=revocation.id)
            queued += 1
    return queued


def hand_out(session: Session, device: AttendanceDevice, now: datetime) -> list[str]:
    """The command lines for a getrequest: queued ones, and sent ones never answered within
    RESEND_AFTER (a user add or delete done twice leaves the device as once). Marked sent."""
    commands = session.scalars(select(DeviceCommand).where(
        DeviceCommand.device_id == device.id,
        (DeviceCommand.status == CommandStatus.QUEUED) | (
            (DeviceCommand.status == CommandStatus.SENT) & (DeviceCommand.sent_at < now - RESEND_AFTER)))
        .order_by(DeviceCommand.id).limit(HAND_OUT_MAX)).all()
    for command in commands:
        command.status, command.sent_at = CommandStatus.SENT, now
    device.last_contact_at = now
    return [c.command_text for c in commands]


def confirm(session: Session, device: AttendanceDevice, replies: list[zk.CommandReply], now: datetime) -> list[int]:
    """Record the device's answers; returns the line numbers of replies naming no command of this
    device. A revocation is consumed once every active ZKTeco device of the project confirmed it."""
    unknown: list[int] = []
    for reply in replies:
        command = session.get(DeviceCommand, reply.command_id)
        if command is None or command.device_id != device.id:
            unknown.append(reply.line_no)
            continue
        if command.status == CommandStatus.CONFIRMED:
            continue  # a repeated answer
        if command.revocation_id is not None:  # first: two devices' confirmations, one after the other
            session.scalar(select(SiteAccessRevocation.id).where(
                SiteAccessRevocation.id == command.revocation_id).with_for_update())
        command.status = CommandStatus.CONFIRMED if reply.ok else CommandStatus.FAILED
        command.return_code, command.confirmed_at = reply.return_code, now
        if command.revocation_id is not None and reply.ok:
            _consume_if_applied(session, device.project_id, command.revocation_id, now)
    device.last_contact_at = now
    session.flush()
    return unknown


def _consume_if_applied(session: Session, project_id: int, revocation_id: int, now: datetime) -> None:
    session.flush()
    devices = set(session.scalars(select(AttendanceDevice.id).where(
        AttendanceDevice.project_id == project_id, AttendanceDevice.protocol == DeviceProtocol.ZKTECO,
        AttendanceDevice.status == DeviceStatus.ACTIVE)))
    confirmed = set(session.scalars(select(DeviceCommand.device_id).where(  # a locking read: the latest rows
        DeviceCommand.revocation_id == revocation_id, DeviceCommand.status == CommandStatus.CONFIRMED)
        .with_for_update(read=True)))
    revocation = session.get(SiteAccessRevocation, revocation_id)
    if devices <= confirmed and revocation.consumed_at is None:
        revocation.consumed_at = now
        audit.record(session, actor_id=None, actor_name="device", action="site_access.revocation_applied",
                     target_type="site_access_revocation", target_id=revocation.id,
                     business_key=revocation.workflow_id, detail={"devices": sorted(devices)})


# --- the devices page --------------------------------------------------------------------------------


@dataclass
class CommandOverview:
    """Per device: how many commands are in each status; and the failed ones, newest first."""

    counts: dict = field(default_factory=dict)  # device id -> {CommandStatus: n}
    failed: list = field(default_factory=list)  # DeviceCommand rows


def command_overview(session: Session, device_ids: list[int], failed_limit: int = 50) -> CommandOverview:
    overview = CommandOverview()
    if not device_ids:
        return overview
    for device_id, status, count in session.execute(
            select(DeviceCommand.device_id, DeviceCommand.status, func.count()).where(
                DeviceCommand.device_id.in_(device_ids)).group_by(DeviceCommand.device_id, DeviceCommand.status)):
        overview.counts.setdefault(device_id, {})[status] = count
    overview.failed = list(session.scalars(select(DeviceCommand).where(
        DeviceCommand.device_id.in_(device_ids), DeviceCommand.status == CommandStatus.FAILED)
        .order_by(DeviceCommand.id.desc()).limit(failed_limit)))
    return overview
