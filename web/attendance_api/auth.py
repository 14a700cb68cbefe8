"""Who sent a device request: the headers' device, timestamp, nonce and HMAC signature checked
(domain/processes/attendance.py holds the canonical string), in an order that tells an unsigned
caller nothing about a device beyond whether its serial is registered:

1. the four headers present (missing_headers), the timestamp within ±300 s (stale_timestamp), the
   nonce well formed (bad_nonce);
2. the serial registered (unknown_device) and the signature right under its secret (bad_signature;
   a ZKTeco device has no secret: wrong_protocol);
3. then, for a correctly signed request: the device active (revoked_device), the source address
   allowed (source_not_allowed), the nonce unseen (replayed_request).

The nonce is written in the request's own transaction, so a request rolled back may be sent again;
nonces older than the window on both sides are pruned as the device's requests come.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from domain.attendance_devices import device_secret, find_by_serial
from domain.errors import CodedError
from domain.models import AttendanceDevice, DeviceRequestNonce
from domain.pii import PiiCipher
from domain.processes.attendance import (
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SIGNATURE_WINDOW_SECONDS,
    DeviceProtocol,
    DeviceStatus,
    IngestRefusal,
    canonical_string,
    source_allowed,
    timestamp_refusal,
    valid_nonce,
    verify,
)

STATUS = {
    IngestRefusal.MISSING_HEADERS: 401, IngestRefusal.BAD_SIGNATURE: 401, IngestRefusal.STALE_TIMESTAMP: 401,
    IngestRefusal.BAD_NONCE: 400, IngestRefusal.REPLAYED_REQUEST: 401, IngestRefusal.UNKNOWN_DEVICE: 401,
    IngestRefusal.REVOKED_DEVICE: 403, IngestRefusal.WRONG_PROTOCOL: 403, IngestRefusal.SOURCE_NOT_ALLOWED: 403,
    IngestRefusal.MALFORMED_BATCH: 400, IngestRefusal.BATCH_TOO_LARGE: 413, IngestRefusal.BUSY: 503,
}
NONCE_KEEP = timedelta(seconds=3 * SIGNATURE_WINDOW_SECONDS)  # a timestamp accepted now is stale by then


class Refused(CodedError):
    """A whole request refused; `code` is an IngestRefusal, `status` its HTTP status."""

    @property
    def status(self) -> int:
        return STATUS[self.code]


def _headers() -> tuple[str, str, str, str]:
    values = tuple((request.headers.get(h) or "").strip()
                   for h in (HEADER_DEVICE, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE))
    if not all(values):
        raise Refused(IngestRefusal.MISSING_HEADERS)
    return values


def _signed_device(db: Session, cipher: PiiCipher, body: bytes, now: datetime) -> tuple[AttendanceDevice, str]:
    serial, timestamp, nonce, signature = _headers()
    refusal = timestamp_refusal(timestamp, now.replace(tzinfo=timezone.utc).timestamp())
    if refusal:
        raise Refused(refusal, f"timestamp {timestamp[:20]}")
    if not valid_nonce(nonce):
        raise Refused(IngestRefusal.BAD_NONCE)
    device = find_by_serial(db, serial[:64])
    if device is None:
        raise Refused(IngestRefusal.UNKNOWN_DEVICE, serial[:64])
    secret = device_secret(cipher, device)
    if device.protocol != DeviceProtocol.API or secret is None:
        raise Refused(IngestRefusal.WRONG_PROTOCOL, serial)
    if not verify(secret, canonical_string(timestamp, nonce, request.method, request.path, body), signature):
        raise Refused(IngestRefusal.BAD_SIGNATURE, serial)
    return device, nonce


def authenticate(db: Session, cipher: PiiCipher, body: bytes, now: datetime) -> AttendanceDevice:
    """The device that signed this request, its nonce recorded in `db`; raises Refused. `now` is
    naive UTC."""
    device, nonce = _signed_device(db, cipher, body, now.replace(tzinfo=None))
    if device.status != DeviceStatus.ACTIVE:
        raise Refused(IngestRefusal.REVOKED_DEVICE, device.serial)
    if not source_allowed(device.allowed_sources, request.remote_addr or ""):
        raise Refused(IngestRefusal.SOURCE_NOT_ALLOWED, f"{device.serial} from {request.remote_addr}")
    # the device's expired nonces, found by a plain read and deleted by primary key: a range delete
    # would lock the gaps other devices insert their nonces into (InnoDB deadlocks under load)
    expired = db.scalars(select(DeviceRequestNonce.id).where(DeviceRequestNonce.device_id == device.id,
                                                             DeviceRequestNonce.seen_at < now - NONCE_KEEP)).all()
    if expired:
        db.execute(delete(DeviceRequestNonce).where(DeviceRequestNonce.id.in_(expired)))
    if db.scalar(select(DeviceRequestNonce.id).where(DeviceRequestNonce.device_id == device.id,
                                                     DeviceRequestNonce.nonce == nonce)) is not None:
        raise Refused(IngestRefusal.REPLAYED_REQUEST, device.serial)
    db.add(DeviceRequestNonce(device_id=device.id, nonce=nonce, seen_at=now))
    db.flush()  # a concurrent request with the same nonce fails here or at the commit (unique)
    return device
