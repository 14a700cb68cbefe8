"""Platform facts: districts, enterprises, projects, accounts and logins, registration, tasks,
notifications and the audit log."""
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
from sqlalchemy.orm import Mapped, mapped_column, relationship


from .base import Base, utcnow
from ..processes.registration import RegistrationStatus


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
    # PAY-4 maker-checker: the specialist who uploaded the wage table may not submit the bank file
    maker_checker: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
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
    # ACC-2: a subcontractor / labour-company account acts for one company on one project
    company_id: Mapped[Optional[int]] = mapped_column(ForeignKey("company.id"))
    can_collect: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # may enrol workers
    can_login: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    can_allocate_projects: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # ACC-4
    created_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    # bumped by logout, disabling and a password change: every session carrying an older epoch ends
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    district: Mapped[Optional[District]] = relationship()
    project: Mapped[Optional[Project]] = relationship(foreign_keys=[project_id])


class AccountProject(Base):
    """ACC-4: the projects an enterprise-allocated account may act for."""

    __tablename__ = "account_project"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)


class LoginAttempt(Base):
    __tablename__ = "login_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class UsbKeyCredential(Base):
    """ACC-3: the USB key registered to an enterprise account (one per account; a key belongs to
    one account). The raw Ed25519 public key in hex; the account then logs in with the key only."""

    __tablename__ = "usb_key_credential"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), unique=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    registered_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))


class LoginChallenge(Base):
    """A USB-key challenge handed to one browser session: single use, short-lived. Only hashes are
    stored: of the challenge (looked up when it comes back signed) and of the session's binding."""

    __tablename__ = "login_challenge"
    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  # login | register
    binding_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))  # register: the account asking
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    used_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


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
    # SEC-3 hash chain: row_hash = HMAC(key, prev_hash + canonical row); see domain/audit/
    prev_hash: Mapped[Optional[str]] = mapped_column(String(64))
    row_hash: Mapped[Optional[str]] = mapped_column(String(64))


class AuditChain(Base):
    """SEC-3: the audit chain's checkpoint, one row (id 1) MACed with the audit key. The head is the
    newest chained row (so deleting the newest rows shows); the base is the last pruned row."""

    __tablename__ = "audit_chain"
    id: Mapped[int] = mapped_column(primary_key=True)
    chain_seq: Mapped[int] = mapped_column(BigInteger)  # rows ever chained, pruned ones included
    head_id: Mapped[Optional[int]] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    base_seq: Mapped[int] = mapped_column(BigInteger)  # rows pruned
    base_id: Mapped[Optional[int]] = mapped_column(Integer)
    base_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[Optional[str]] = mapped_column(String(64))  # None until the first audited commit
    updated_at: Mapped[Optional[datetime]] = mapped_column(DateTime)

