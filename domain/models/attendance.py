"""Attendance devices (issue 11): the registered gates and terminals, the punches no worker of the
project could be found for (quarantine), and the nonces of signed requests (replay refusal).
The punches themselves are `Punch` (workforce.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from ..processes.attendance import DeviceStatus, QuarantineReason


class AttendanceDevice(Base):
    """A gate or terminal registered to a project; its HMAC secret sealed with the PII cipher
    (NULL for the ZKTeco protocol, which signs nothing)."""

    __tablename__ = "attendance_device"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # DeviceKind
    protocol: Mapped[str] = mapped_column(String(10))  # DeviceProtocol
    secret_enc: Mapped[Optional[str]] = mapped_column(Text)
    allowed_sources: Mapped[str] = mapped_column(String(500), default="")  # CIDRs, comma-separated; empty: any
    status: Mapped[str] = mapped_column(String(10), default=DeviceStatus.ACTIVE)
    last_contact_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class PunchQuarantine(Base):
    """A punch for a worker the device's project does not know; `worker_ref` is what the device
    sent (a worker id or a PIN), never an ID number. Resolved by the labour specialist."""

    __tablename__ = "punch_quarantine"
    __table_args__ = (UniqueConstraint("device_id", "device_seq", name="uq_quarantine_device_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("attendance_device.id"))
    device_seq: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    worker_ref: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))
    device_time: Mapped[datetime] = mapped_column(DateTime)  # naive UTC as the device stated it
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(20), default=QuarantineReason.UNKNOWN_WORKER)
    resolved_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    resolved_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))


class DeviceRequestNonce(Base):
    """A nonce a device has used; a second request with it is a replay."""

    __tablename__ = "device_request_nonce"
    __table_args__ = (UniqueConstraint("device_id", "nonce", name="uq_device_nonce"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("attendance_device.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
