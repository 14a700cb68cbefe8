"""Workforce facts (issue 3 and on): companies, teams, workers, engagements, enrolment, site
access, bank cards and punches."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column


from .base import Base, utcnow
from ..processes.attendance import PunchChannel
from ..processes.enrolment import EnrolmentState
from ..processes.worker_exit import EngagementStatus


class CompanyKind:
    CONTRACTOR = "contractor"
    SUBCONTRACTOR = "subcontractor"
    LABOUR_COMPANY = "labour_company"


class Company(Base):
    """A participating company on a project (general contractor, subcontractor, labour company)."""

    __tablename__ = "company"
    __table_args__ = (UniqueConstraint("project_id", "credit_code", name="uq_company_project_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_team_project_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # ENR-4: the team leader (班组长), named when the team is set up at enrolment
    leader_name: Mapped[Optional[str]] = mapped_column(String(50))
    leader_phone_enc: Mapped[Optional[str]] = mapped_column(String(200))


class Worker(Base):
    """A person, identified by the ID number (stored encrypted, found by its keyed hash)."""

    __tablename__ = "worker"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    id_number_enc: Mapped[str] = mapped_column(String(200))
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    gender: Mapped[Optional[str]] = mapped_column(String(1))  # M / F, from the ID number
    birth_date: Mapped[Optional[date]] = mapped_column(Date)
    phone_enc: Mapped[Optional[str]] = mapped_column(String(200))
    phone_hash: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # ENR-2: False for a worker known only from a paper roster, until a card read confirms them
    verified_by_card: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # ENR-7: the separate consent to face processing (FaceConsent), when and by whom it was recorded;
    # a refusal makes the attendance mode `card` (AttendanceMode)
    face_consent: Mapped[Optional[str]] = mapped_column(String(10))
    face_consent_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    face_consent_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    attendance_mode: Mapped[Optional[str]] = mapped_column(String(10))
    emergency_contact_name: Mapped[Optional[str]] = mapped_column(String(50))
    emergency_contact_phone_enc: Mapped[Optional[str]] = mapped_column(String(200))


class FaceTemplate(Base):
    """ENR-3/7: the one face template of a worker, sealed with the PII cipher (domain/face.py),
    bound to the worker's id, so a template copied onto another row does not decrypt."""

    __tablename__ = "face_template"
    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), unique=True)
    template_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WorkerAppAccount(Base):
    """ENR-5 / APP-1: the worker's app account. Login by ID number (found by its keyed hash); the
    initial password is the last 6 characters of the ID number and must be changed at first login."""

    __tablename__ = "worker_app_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), unique=True)
    login_hash: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    password_changed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class ProjectWorker(Base):
    """A worker's engagement on a project: team, employer, trade, daily rate, entry and exit."""

    __tablename__ = "project_worker"
    __table_args__ = (UniqueConstraint("project_id", "worker_id", name="uq_project_worker"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    trade: Mapped[str] = mapped_column(String(10))  # national trade code, e.g. 010 bricklayer
    daily_rate_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_date: Mapped[date] = mapped_column(Date)
    exit_date: Mapped[Optional[date]] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default=EngagementStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # PAY-7 worker exit: the process (WorkerExitWorkflow) and who asked for it
    exit_workflow_id: Mapped[Optional[str]] = mapped_column(String(100))
    exit_requested_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    exit_requested_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    # ENR-4/6: the contract period, and the enrolment case that brought the worker in (None: a
    # roster import); admitted_at is set when site access is granted
    contract_start: Mapped[Optional[date]] = mapped_column(Date)
    contract_end: Mapped[Optional[date]] = mapped_column(Date)
    enrolment_id: Mapped[Optional[int]] = mapped_column(Integer)
    admitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class Enrolment(Base):
    """One enrolment case (EnrolmentWorkflow, id `enrolment-<id>`): the record as completed at the
    enrolment device, PII encrypted, and what the process has done with it."""

    __tablename__ = "enrolment"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    workflow_id: Mapped[Optional[str]] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(20), default=EnrolmentState.CHECKING, index=True)
    started_by: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    name: Mapped[str] = mapped_column(String(50))
    id_number_enc: Mapped[str] = mapped_column(String(200))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    phone_enc: Mapped[str] = mapped_column(String(200))
    verified_by_card: Mapped[bool] = mapped_column(Boolean, default=False)
    card_valid_to: Mapped[Optional[date]] = mapped_column(Date)  # None: 长期
    trade: Mapped[str] = mapped_column(String(10))
    daily_rate_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    emergency_contact_name: Mapped[str] = mapped_column(String(50))
    emergency_contact_phone_enc: Mapped[str] = mapped_column(String(200))
    contract_start: Mapped[date] = mapped_column(Date)
    contract_end: Mapped[Optional[date]] = mapped_column(Date)
    face_consent: Mapped[str] = mapped_column(String(10))
    face_consent_at: Mapped[datetime] = mapped_column(DateTime)
    face_consent_by: Mapped[int] = mapped_column(ForeignKey("account.id"))
    staged_template_enc: Mapped[Optional[str]] = mapped_column(Text)  # moved to face_template, then cleared
    worker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("worker.id"))
    project_worker_id: Mapped[Optional[int]] = mapped_column(ForeignKey("project_worker.id"))
    duplicate_decision: Mapped[Optional[str]] = mapped_column(String(10))
    duplicate_reason: Mapped[Optional[str]] = mapped_column(String(200))
    contract_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    contract_scan_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    contract_scanned_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    contract_scanned_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    admitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    cancelled_reason: Mapped[Optional[str]] = mapped_column(String(200))


class SafetyTraining(Base):
    """ENR-6: a safety training record (安全教育培训) of a worker on a project, with its certificate scan."""

    __tablename__ = "safety_training"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    enrolment_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enrolment.id"), unique=True)
    course: Mapped[str] = mapped_column(String(100))
    trained_on: Mapped[date] = mapped_column(Date)
    hours_x10: Mapped[int] = mapped_column(Integer)  # tenths of an hour
    certificate_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    recorded_by: Mapped[int] = mapped_column(ForeignKey("account.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SiteAccessGrant(Base):
    """ENR-7: the worker may enter the project's site (contract on file, training recorded); the
    devices consume these (later issue), as they consume revocations."""

    __tablename__ = "site_access_grant"
    __table_args__ = (UniqueConstraint("project_worker_id", name="uq_grant_engagement"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    project_worker_id: Mapped[int] = mapped_column(ForeignKey("project_worker.id"))
    workflow_id: Mapped[Optional[str]] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    consumed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class SiteAccessRevocation(Base):
    """PAY-7: a worker's gate access on a project is revoked; devices consume these (later issue)."""

    __tablename__ = "site_access_revocation"
    __table_args__ = (UniqueConstraint("project_worker_id", name="uq_revocation_engagement"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    project_worker_id: Mapped[int] = mapped_column(ForeignKey("project_worker.id"))
    reason: Mapped[str] = mapped_column(String(200), default="worker_exit")
    workflow_id: Mapped[Optional[str]] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    consumed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)  # set when the devices have it


class BankCard(Base):
    """A worker's payroll card; the number is encrypted, `last4` is what screens show."""

    __tablename__ = "bank_card"
    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    bank_name: Mapped[str] = mapped_column(String(100))
    card_number_enc: Mapped[str] = mapped_column(String(200))
    card_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    last4: Mapped[str] = mapped_column(String(4))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    replaced_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class Punch(Base):
    """One attendance record; the dedupe key makes a late or repeated upload count once."""

    __tablename__ = "punch"
    __table_args__ = (Index("ix_punch_project_time", "project_id", "punched_at"),
                      UniqueConstraint("device_id", "device_seq", name="uq_punch_device_seq"))
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    punched_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    device_code: Mapped[str] = mapped_column(String(50), default="")
    match_score: Mapped[Optional[int]] = mapped_column(Integer)  # face match, per mille
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)  # server time of receipt
    # issue 11: the registered device and its sequence number (the idempotency key), the device's
    # own clock as stated (punched_at holds the same instant: statistics use it) and its skew
    device_id: Mapped[Optional[int]] = mapped_column(ForeignKey("attendance_device.id"))
    device_seq: Mapped[Optional[int]] = mapped_column(Integer)
    device_time: Mapped[Optional[datetime]] = mapped_column(DateTime)
    skew_seconds: Mapped[Optional[int]] = mapped_column(Integer)
    skew_flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    channel: Mapped[str] = mapped_column(String(10), default=PunchChannel.SEED, server_default="seed")
    photo_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    photo_sha256: Mapped[Optional[str]] = mapped_column(String(64))

