"""Notification outbox (SMS channel + in-app inbox channel) and its transports.

A notification row is written in the same transaction as the change that causes it and
delivered afterwards by `deliver_pending`; the dedupe key makes writing it idempotent.
Bodies are encrypted at rest because an SMS may carry an initial password.
"""
from __future__ import annotations

import logging
from typing import Optional, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .models import Notification, NotificationStatus, utcnow
from .pii import PiiCipher
from .rules import mask_phone

log = logging.getLogger("shiming.notify")


def enqueue(
    session: Session,
    cipher: PiiCipher,
    *,
    dedupe_key: str,
    channel: str,
    template: str,
    body: str,
    phone: Optional[str] = None,
    account_id: Optional[int] = None,
) -> Notification:
    existing = session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    row = Notification(
        dedupe_key=dedupe_key,
        channel=channel,
        template=template,
        account_id=account_id,
        recipient_enc=cipher.encrypt(phone, "phone") if phone else None,
        recipient_hash=cipher.lookup_hash(phone, "phone") if phone else None,
        body_enc=cipher.encrypt(body, "notification"),
        status=NotificationStatus.PENDING,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def read_body(cipher: PiiCipher, row: Notification) -> str:
    return cipher.decrypt(row.body_enc, "notification")


class Transport(Protocol):
    def send(self, channel: str, phone: Optional[str], account_id: Optional[int], body: str) -> None: ...


class ConsoleTransport:
    """Development transport: writes the message to the log (phone masked)."""

    def send(self, channel: str, phone: Optional[str], account_id: Optional[int], body: str) -> None:
        to = mask_phone(phone) if phone else f"account #{account_id}"
        log.warning("[%s to %s] %s", channel.upper(), to, body)


def deliver_pending(Session: sessionmaker, cipher: PiiCipher, transport: Transport, limit: int = 100) -> int:
    """Deliver pending notifications; returns how many were sent."""
    sent = 0
    with Session.begin() as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .order_by(Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # several workers never send one message twice
        ).all()
        for row in rows:
            row.attempts += 1
            if row.channel == "inbox":  # shown in the web app; nothing to transmit
                row.status, row.sent_at = NotificationStatus.SENT, utcnow()
                sent += 1
                continue
            phone = cipher.decrypt(row.recipient_enc, "phone") if row.recipient_enc else None
            try:
                transport.send(row.channel, phone, row.account_id, read_body(cipher, row))
            except Exception:  # noqa: BLE001 - a transport failure is retried later
                log.exception("notification %s delivery failed", row.id)
                if row.attempts >= 10:
                    row.status = NotificationStatus.FAILED
                continue
            row.status, row.sent_at = NotificationStatus.SENT, utcnow()
            sent += 1
    return sent
