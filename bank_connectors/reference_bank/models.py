"""The reference bank's own database: its ledger, the batches it received and what it paid."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """Naive UTC, as stored."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class LedgerAccount(Base):
    """A corporate account; wage runs are paid from `kind == "wage"` accounts (工资专户)."""

    __tablename__ = "account"
    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="wage")  # wage | ordinary
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed


class Card(Base):
    """A personal debit card that wages are paid into."""

    __tablename__ = "card"
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed


class PlatformKey(Base):
    """A platform Ed25519 key the bank accepts wage files from (exchanged at onboarding)."""

    __tablename__ = "platform_key"
    signing: Mapped[str] = mapped_column(String(64), primary_key=True)  # raw public key, hex
    label: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Batch(Base):
    """A received wage file; the batch id is unique, so a batch is paid at most once."""

    __tablename__ = "batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    plaintext_sha256: Mapped[str] = mapped_column(String(64))
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    plaintext: Mapped[bytes] = mapped_column(LargeBinary)
    channel: Mapped[str] = mapped_column(String(10))  # http | exchange
    line_count: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="accepted")  # accepted | paying | settled
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    settled_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class Payment(Base):
    """The outcome of one line; (batch, seq) is unique, so no line is paid twice."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("batch_id", "seq", name="uq_payment_line"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # paid | failed
    code: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    card_number: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[Optional[datetime]] = mapped_column(DateTime)


class StatementRecord(Base):
    """A signed statement and its delivery: retried until the platform acknowledges it."""

    __tablename__ = "statement"
    statement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    channel: Mapped[str] = mapped_column(String(10))  # http | exchange
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(300), default="")
