"""Punch corrections (补卡, issue 11 point 5): an approved record of its own, never a punch.

A correction states that a worker was on the project's site at `corrected_at` (naive UTC) on the
local `day`, in `direction`, for `reason`; `requested_by` asked, `decided_by` (another account
with the approver's role) approved or refused it. Only approved corrections count, and statistics
show them apart from device punches (domain/attendance.py).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import Date, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow
from ..processes.attendance_correction import CorrectionStatus


class PunchCorrection(Base):
    __tablename__ = "punch_correction"
    __table_args__ = (Index("ix_punch_correction_project_day", "project_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))  # the worker's team when requested
    day: Mapped[date] = mapped_column(Date)  # local (China Standard Time) calendar day
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    corrected_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), default=CorrectionStatus.PENDING, index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("account.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    decided_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    decision_reason: Mapped[Optional[str]] = mapped_column(String(300))
    workflow_id: Mapped[Optional[str]] = mapped_column(String(100), unique=True)
