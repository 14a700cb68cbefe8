"""ZKTeco PUSH devices (ATT-6): the commands the platform queues for a terminal and what it answered.

A user add for each admitted worker of the device's project (its `SiteAccessGrant`), a user delete
for each exit's `SiteAccessRevocation`; the PIN is the engagement's id. `status` is
domain.processes.zkteco.CommandStatus; `return_code` is the device's `Return=` (0 success)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .attendance import PunchQuarantine
from .base import Base, utcnow
from .workforce import Punch
from ..processes.zkteco import CommandStatus


class DeviceCommand(Base):
    __tablename__ = "device_command"
    __table_args__ = (Index("ix_device_command_device_status", "device_id", "status"),
                      Index("ix_device_command_revocation", "revocation_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("attendance_device.id"))
    kind: Mapped[str] = mapped_column(String(20))  # CommandKind
    project_worker_id: Mapped[int] = mapped_column(ForeignKey("project_worker.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    grant_id: Mapped[Optional[int]] = mapped_column(ForeignKey("site_access_grant.id"))
    revocation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("site_access_revocation.id"))
    command_text: Mapped[str] = mapped_column(Text)  # the line handed out, `C:<id>:…`
    status: Mapped[str] = mapped_column(String(10), default=CommandStatus.QUEUED)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    confirmed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)  # when the device answered
    return_code: Mapped[Optional[int]] = mapped_column(Integer)


# a ZKTeco line carries no sequence number: its punch is found by device and device time
Index("ix_punch_device_time", Punch.device_id, Punch.device_time)
Index("ix_punch_quarantine_device_time", PunchQuarantine.device_id, PunchQuarantine.device_time)
