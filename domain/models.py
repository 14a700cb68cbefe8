"""SQLAlchemy 2.0 models: the facts. Processes live in Temporal workflows.

Times are naive UTC (`utcnow()`), which both SQLite and MySQL store alike. Money is integer
fen. Phone numbers are stored encrypted (`*_enc`) with a keyed hash (`*_hash`) for look-ups.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    pass


class Role:
    ADMIN = "admin"  # system administrator
    BUREAU_REVIEWER = "bureau_reviewer"
    BUREAU_CHIEF = "bureau_chief"  # section chief; escalations land here
    ENTERPRISE = "enterprise"
    PROJECT = "project"

    ALL = (ADMIN, BUREAU_REVIEWER, BUREAU_CHIEF, ENTERPRISE, PROJECT)
    BUREAU = (BUREAU_REVIEWER, BUREAU_CHIEF)


class District(Base):
    __tablename__ = "district"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Enterprise(Base):
    __tablename__ = "enterprise"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StoredFile(Base):
    """Metadata of a content-addressed blob under `var/blobs/<sha256[:2]>/<sha256>`."""

    __tablename__ = "stored_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class _ProjectFacts:
    """Columns shared by a registration application and the project it becomes."""

    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    builder_name: Mapped[str] = mapped_column(String(200))
    builder_credit_code: Mapped[str] = mapped_column(String(18))
    contractor_name: Mapped[str] = mapped_column(String(200))
    contractor_credit_code: Mapped[str] = mapped_column(String(18))
    owner_name: Mapped[str] = mapped_column(String(200))
    owner_credit_code: Mapped[str] = mapped_column(String(18))
    contract_value_fen: Mapped[int] = mapped_column(BigInteger)
    planned_start: Mapped[date] = mapped_column(Date)
    planned_end: Mapped[date] = mapped_column(Date)
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone_enc: Mapped[str] = mapped_column(String(200))
    contact_phone_hash: Mapped[str] = mapped_column(String(64), index=True)


class Project(_ProjectFacts, Base):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprise.id"))
    registration_id: Mapped[Optional[int]] = mapped_column(ForeignKey("registration_application.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    district: Mapped[District] = relationship()


class Account(Base):
    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), index=True)
    # scope: which district / enterprise / project the account acts for
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("district.id"))
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("enterprise.id"))
    project_id: Mapped[Optional[int]] = mapped_column(ForeignKey("project.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_until: Mapped[Optional[datetime]] = mapped_column(DateTime)
    password_changed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    district: Mapped[Optional[District]] = relationship()
    project: Mapped[Optional[Project]] = relationship(foreign_keys=[project_id])


class LoginAttempt(Base):
    __tablename__ = "login_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class RegistrationStatus:
    DRAFT = "draft"  # form saved, stamped scan not yet uploaded
    IN_REVIEW = "in_review"
    RETURNED = "returned"  # returned for correction, waiting for the applicant
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    FINAL = (APPROVED, REJECTED, CANCELLED)


class RegistrationApplication(_ProjectFacts, Base):
    __tablename__ = "registration_application"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=RegistrationStatus.DRAFT, index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"))
    scan_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    workflow_id: Mapped[Optional[str]] = mapped_column(String(100))
    project_id: Mapped[Optional[int]] = mapped_column(Integer)  # set on approval (no FK: project refers back)
    last_reason: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    decided_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

    district: Mapped[District] = relationship()
    scan_file: Mapped[Optional[StoredFile]] = relationship()


class RegistrationCorrection(Base):
    """A correction typed by the applicant, applied only when the process accepts it."""

    __tablename__ = "registration_correction"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("registration_application.id"), index=True)
    base_revision: Mapped[int] = mapped_column(Integer)
    data_json: Mapped[str] = mapped_column(Text)  # form fields; the phone inside is encrypted
    scan_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    applied_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class TaskStatus:
    NEW = "NEW"
    ASSIGNED = "ASSIGNED"
    DONE = "DONE"
    CANCELED = "CANCELED"
    ERROR = "ERROR"

    OPEN = (NEW, ASSIGNED)


class HumanTask(Base):
    """Inbox row: a projection of a workflow waiting on a person (DESIGN decision 2)."""

    __tablename__ = "human_task"
    __table_args__ = (UniqueConstraint("workflow_id", "kind", "round", name="uq_task_round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    workflow_id: Mapped[str] = mapped_column(String(100), index=True)
    business_key: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), default=TaskStatus.NEW, index=True)
    candidate_role: Mapped[str] = mapped_column(String(32))
    district_id: Mapped[Optional[int]] = mapped_column(ForeignKey("district.id"), index=True)
    owner_id: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    assigned_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    due_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    escalate_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    reminded_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    escalated_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    outcome: Mapped[Optional[str]] = mapped_column(String(32))

    owner: Mapped[Optional[Account]] = relationship()
    district: Mapped[Optional[District]] = relationship()


class NotificationStatus:
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class Notification(Base):
    """Transactional outbox: written with the change that causes it, delivered afterwards."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(150), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | inbox
    account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    recipient_enc: Mapped[Optional[str]] = mapped_column(String(200))  # phone, encrypted
    recipient_hash: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    template: Mapped[str] = mapped_column(String(50))
    body_enc: Mapped[str] = mapped_column(Text)  # may hold an initial password: encrypted
    status: Mapped[str] = mapped_column(String(12), default=NotificationStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_target", "target_type", "target_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    detail: Mapped[Optional[str]] = mapped_column(Text)
    remote_addr: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
