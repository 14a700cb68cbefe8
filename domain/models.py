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

from .processes.account_binding import AccountStatus
from .processes.enrolment import EnrolmentState
from .processes.registration import RegistrationStatus
from .processes.wage_run import BatchStatus, Step, WageLineStatus, WageRunStatus
from .processes.worker_exit import EngagementStatus


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
    PAYROLL_SPECIALIST = "payroll_specialist"  # scoped to a project; signs wage steps
    # ACC-1 / separation of duties: the system administrator runs the platform, the security
    # administrator manages accounts' state, the auditor reads the audit log and changes nothing
    SECURITY_ADMIN = "security_admin"
    AUDITOR = "auditor"
    SUPERVISOR = "supervisor"  # supervisory authority above the district bureaus; reads, decides nothing
    COMPANY = "company"  # a subcontractor or labour company on one project (ACC-2)

    ALL = (ADMIN, BUREAU_REVIEWER, BUREAU_CHIEF, ENTERPRISE, PROJECT, PAYROLL_SPECIALIST,
           SECURITY_ADMIN, AUDITOR, SUPERVISOR, COMPANY)
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
    # SEC-3 hash chain: row_hash = HMAC(key, prev_hash + canonical row); see domain/audit.py
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


# --- workforce (issue 3: what the wage run needs) ------------------------------------------------


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
    __table_args__ = (Index("ix_punch_project_time", "project_id", "punched_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    punched_at: Mapped[datetime] = mapped_column(DateTime)  # naive UTC
    device_code: Mapped[str] = mapped_column(String(50), default="")
    match_score: Mapped[Optional[int]] = mapped_column(Integer)  # face match, per mille
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- security password and signing keys (PAY-1, SEC-4) -------------------------------------------


class SigningKey(Base):
    """A payroll specialist's Ed25519 key; the private half is sealed under the security password.

    Old keys are kept (retired_at set) so signatures made with them stay verifiable.
    """

    __tablename__ = "signing_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64))  # raw Ed25519 public key, hex
    sealed_private_key: Mapped[str] = mapped_column(Text)  # JSON: kdf, params, salt, nonce, ciphertext
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class SecurityPasswordState(Base):
    """Failed security-password attempts and the lockout they lead to."""

    __tablename__ = "security_password_state"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[Optional[datetime]] = mapped_column(DateTime)
    changed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


# --- wage payment (PAY-2…6) ------------------------------------------------------------------------


class WageAccount(Base):
    """A project's wage special account (工资专户) at a bank."""

    __tablename__ = "wage_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    bank_code: Mapped[str] = mapped_column(String(20))
    account_number_enc: Mapped[str] = mapped_column(String(200))
    account_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    account_last4: Mapped[str] = mapped_column(String(4))
    account_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default=AccountStatus.BINDING)
    refusal_reason: Mapped[Optional[str]] = mapped_column(String(200))
    workflow_id: Mapped[Optional[str]] = mapped_column(String(100))
    bound_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    agreement_accepted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WageRun(Base):
    """One month's wages of one project; the process is WageRunWorkflow (id = business key)."""

    __tablename__ = "wage_run"
    __table_args__ = (UniqueConstraint("workflow_id", name="uq_wage_run_workflow"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    workflow_id: Mapped[str] = mapped_column(String(100))
    wage_account_id: Mapped[int] = mapped_column(ForeignKey("wage_account.id"))
    # WageRunStatus; a cancelled month may be opened again as a new run (domain/wage_run.py)
    status: Mapped[str] = mapped_column(String(16), default=WageRunStatus.OPEN)
    step: Mapped[str] = mapped_column(String(20), default=Step.WAGE_TABLE)
    table_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    table_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    table_uploaded_by: Mapped[Optional[int]] = mapped_column(ForeignKey("account.id"))
    sheet_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    completed_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class WageLine(Base):
    __tablename__ = "wage_line"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_wage_line_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("wage_run.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"))
    days: Mapped[int] = mapped_column(Integer, default=0)
    hours_x10: Mapped[int] = mapped_column(Integer, default=0)  # tenths of an hour
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    remark: Mapped[str] = mapped_column(String(200), default="")
    # back pay (补发): the earlier month "YYYY-MM" this line pays; None for the run's own month
    back_pay_month: Mapped[Optional[str]] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(12), default=WageLineStatus.PENDING, index=True)
    batch_version: Mapped[Optional[int]] = mapped_column(Integer)
    file_seq: Mapped[Optional[int]] = mapped_column(Integer)  # line number in that batch's wage file (1..n)
    card_id: Mapped[Optional[int]] = mapped_column(ForeignKey("bank_card.id"))
    failure_code: Mapped[Optional[str]] = mapped_column(String(20))
    failure_reason: Mapped[Optional[str]] = mapped_column(String(200))
    settled_reason: Mapped[Optional[str]] = mapped_column(String(300))
    paid_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class WageStepSignature(Base):
    """A signed wage step: canonical document + Ed25519 signature, chained to the previous one."""

    __tablename__ = "wage_step_signature"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("wage_run.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))
    document: Mapped[str] = mapped_column(Text)  # canonical JSON that was signed
    signature: Mapped[str] = mapped_column(String(128))  # hex
    signing_key_id: Mapped[int] = mapped_column(ForeignKey("signing_key.id"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BankBatch(Base):
    """A batch: one submission of a run's wage file to the bank, numbered by `version` (1, then one
    per re-issue); (run, version) is sent at most once. `file_id` is the sealed wage file (the
    envelope the bank receives), `plaintext_sha256` the hash of the wage file before sealing, which
    the submission's signature covers."""

    __tablename__ = "bank_batch"
    __table_args__ = (UniqueConstraint("run_id", "version", name="uq_bank_batch_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("wage_run.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(64), unique=True)  # also the idempotency key
    file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    plaintext_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    line_count: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default=BatchStatus.BUILT)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class BankBatchLine(Base):
    """One line of one batch as it was sent: which wage line, at which sequence of the wage file,
    to which card. A re-issue moves the wage line to the next batch and card; this row keeps what
    each earlier batch used (issue 8, point 8)."""

    __tablename__ = "bank_batch_line"
    __table_args__ = (UniqueConstraint("batch_id", "file_seq", name="uq_bank_batch_line_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("bank_batch.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("wage_line.id"), index=True)
    file_seq: Mapped[int] = mapped_column(Integer)
    card_id: Mapped[int] = mapped_column(ForeignKey("bank_card.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class BankStatement(Base):
    """A statement received from a bank; the bank's statement id makes intake idempotent."""

    __tablename__ = "bank_statement"
    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[str] = mapped_column(String(64), unique=True)
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stored_file.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    applied_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
