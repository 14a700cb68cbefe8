"""Payroll facts: signing keys and the security password (PAY-1, SEC-4), wage accounts, runs, lines,
step signatures, batches and bank statements (PAY-2…6)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column


from .base import Base, utcnow
from ..processes.account_binding import AccountStatus
from ..processes.wage_run import BatchStatus, Step, WageLineStatus, WageRunStatus


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
