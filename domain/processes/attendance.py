"""Attendance from devices (ATT-1…4, issue 11): vocabulary, messages and pure helpers.

I/O-free (see domain/processes/__init__.py). The StrEnum values are the strings stored in the
database and sent on the wire: never change one.

A device (gate or terminal) is registered to a project with a serial and, for the platform's own
API, a secret of 32 random bytes shown once as 64 hex digits. Every request of the signed API
carries `X-Shiming-Device`, `X-Shiming-Timestamp` (unix seconds), `X-Shiming-Nonce` and
`X-Shiming-Signature` = hex(HMAC-SHA256(key, canonical)), where key = the 32 bytes the hex
secret spells and canonical = "{timestamp}\\n{nonce}\\n{METHOD}\\n{path}\\n{sha256_hex(body)}"
(path without the query string). A timestamp outside ±300 s of the server's clock is stale; a
nonce seen before for the device is a replay.

Punches are idempotent on (device, seq); the device's own clock is kept as stated, and a skew
(device time − server time) beyond 300 s is flagged, never dropped.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Iterable, Optional

SIGNATURE_WINDOW_SECONDS = 300
SKEW_FLAG_SECONDS = 300
SECRET_BYTES = 32
SERIAL_MAX = 64
WORKER_REF_MAX = 64
SOURCES_MAX = 500
MATCH_SCORE_MAX = 1000  # per mille
MAX_BATCH_ITEMS = 500
MAX_PHOTO_BYTES = 512 * 1024
SEQ_MAX = 2**31 - 1
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")

API_PREFIX = "/api/attendance/v1"
HEADER_DEVICE = "X-Shiming-Device"
HEADER_TIMESTAMP = "X-Shiming-Timestamp"
HEADER_NONCE = "X-Shiming-Nonce"
HEADER_SIGNATURE = "X-Shiming-Signature"

SECRET_CONTEXT = "device_secret"  # the PII cipher's context for attendance_device.secret_enc
GAP_LIST_MAX = 1000  # missing sequence numbers listed one by one; ranges beyond are still counted


class DeviceKind(StrEnum):
    """A gate at a closed site or a terminal at an open one."""

    GATE = "gate"
    TERMINAL = "terminal"


class DeviceProtocol(StrEnum):
    """How the device talks to the platform: the signed API or the ZKTeco push protocol."""

    API = "api"
    ZKTECO = "zkteco"


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class PunchChannel(StrEnum):
    """punch.channel: punches keep the channel they came by."""

    API = "api"
    ZKTECO = "zkteco"
    TERMINAL = "terminal"
    SEED = "seed"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class WorkerRefKind(StrEnum):
    """What a device's worker reference names: a worker id (the API), or an engagement's id (a ZKTeco PIN)."""

    WORKER_ID = "worker_id"
    PIN = "pin"


class ItemOutcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


class QuarantineReason(StrEnum):
    UNKNOWN_WORKER = "unknown_worker"  # no admitted engagement of that worker on the device's project


class IngestRefusal(StrEnum):
    """Whole-request refusals of the device API (nothing of the request is stored)."""

    MISSING_HEADERS = "missing_headers"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_NONCE = "bad_nonce"
    REPLAYED_REQUEST = "replayed_request"
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    WRONG_PROTOCOL = "wrong_protocol"
    SOURCE_NOT_ALLOWED = "source_not_allowed"
    MALFORMED_BATCH = "malformed_batch"
    BATCH_TOO_LARGE = "batch_too_large"
    BUSY = "busy"  # concurrent batches kept colliding in the database: nothing stored, send it again


class ItemError(StrEnum):
    """Per-item codes: the item is rejected, the others of its batch go on."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    BAD_SEQ = "bad_seq"
    BAD_WORKER = "bad_worker"
    BAD_TIME = "bad_time"
    BAD_DIRECTION = "bad_direction"
    BAD_SCORE = "bad_score"
    BAD_PHOTO = "bad_photo"
    PHOTO_TOO_LARGE = "photo_too_large"
    PHOTO_HASH_MISMATCH = "photo_hash_mismatch"
    SERIAL_MISMATCH = "serial_mismatch"
    SEQ_REPEATED_IN_BATCH = "seq_repeated_in_batch"
    CONFLICTING_RESEND = "conflicting_resend"  # the (device, seq) is stored with other content


class DeviceRefusal(StrEnum):
    """Refusals of the devices page's register and revoke."""

    BAD_SERIAL = "bad_serial"
    SERIAL_TAKEN = "serial_taken"
    BAD_KIND = "bad_kind"
    BAD_PROTOCOL = "bad_protocol"
    BAD_SOURCES = "bad_sources"
    ALREADY_REVOKED = "already_revoked"
    ALREADY_RESOLVED = "already_resolved"
    WORKER_STILL_UNKNOWN = "worker_still_unknown"


@dataclass(frozen=True)
class PunchItem:
    """One punch as a device sent it, read but not yet judged (ingest checks it).

    `time` is aware (the API requires an offset) or naive UTC; `error` is set when the item could
    not even be read from the wire (its other fields are then whatever could be read)."""

    seq: Optional[int]
    worker_ref: str
    time: Optional[datetime]
    direction: str
    match_score: Optional[int] = None
    photo: Optional[bytes] = None
    photo_sha256: Optional[str] = None
    serial: Optional[str] = None  # the serial the item names; None: the request's device
    ref_kind: WorkerRefKind = WorkerRefKind.WORKER_ID
    error: Optional[ItemError] = None
    error_field: str = ""


@dataclass(frozen=True)
class ItemResult:
    index: int
    seq: Optional[int]
    outcome: ItemOutcome
    code: Optional[ItemError] = None
    field: str = ""


@dataclass(frozen=True)
class IngestResult:
    results: tuple[ItemResult, ...]

    def count(self, outcome: ItemOutcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def summary(self) -> dict[str, int]:
        return {o.value: self.count(o) for o in ItemOutcome}


# --- signing -------------------------------------------------------------------------------------


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_string(timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    """What the signature covers; `path` without the query string."""
    return f"{timestamp}\n{nonce}\n{method.upper()}\n{path}\n{body_sha256(body)}"


def secret_key(secret_hex: str) -> bytes:
    """The HMAC key: the 32 bytes the device's hex secret spells."""
    return bytes.fromhex(secret_hex)


def sign(secret_hex: str, canonical: str) -> str:
    return hmac.new(secret_key(secret_hex), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(secret_hex: str, canonical: str, signature: str) -> bool:
    """Constant-time comparison; a signature that is not 64 hex digits is simply wrong."""
    if not isinstance(signature, str) or not HEX64_RE.fullmatch(signature.lower()):
        return False
    return hmac.compare_digest(sign(secret_hex, canonical), signature.lower())


def signed_headers(serial: str, secret_hex: str, method: str, path: str, body: bytes, *,
                   timestamp: int, nonce: str) -> dict[str, str]:
    """The four headers of a signed request (what a device sends; tests and the bench use it)."""
    ts = str(int(timestamp))
    return {
        HEADER_DEVICE: serial,
        HEADER_TIMESTAMP: ts,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(secret_hex, canonical_string(ts, nonce, method, path, body)),
    }


def timestamp_refusal(timestamp: str, now_unix: float) -> Optional[IngestRefusal]:
    """None when the timestamp is unix seconds within the window of `now_unix`."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return IngestRefusal.STALE_TIMESTAMP
    if abs(int(timestamp) - now_unix) > SIGNATURE_WINDOW_SECONDS:
        return IngestRefusal.STALE_TIMESTAMP
    return None


def valid_nonce(nonce: str) -> bool:
    return bool(NONCE_RE.fullmatch(nonce))


def valid_serial(serial: str) -> bool:
    return bool(SERIAL_RE.fullmatch(serial))


# --- times and sequences -------------------------------------------------------------------------


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def skew_seconds(device_time: datetime, received_at: datetime) -> int:
    """device time − server time, in whole seconds (both naive UTC or both aware)."""
    return int(round((to_naive_utc(device_time) - to_naive_utc(received_at)).total_seconds()))


def skew_flagged(skew: int) -> bool:
    return abs(skew) > SKEW_FLAG_SECONDS


def sequence_gaps(seqs: Iterable[int], start: Optional[int] = None) -> list[tuple[int, int]]:
    """Missing sequence numbers as inclusive ranges, from `start` (default: the first seen) to the
    last seen. `seqs` must be sorted ascending; repeats are ignored."""
    gaps: list[tuple[int, int]] = []
    expected = start
    for seq in seqs:
        if expected is None:
            expected = seq
        if seq > expected:
            gaps.append((expected, seq - 1))
        expected = max(expected, seq + 1)
    return gaps


def gap_count(gaps: Iterable[tuple[int, int]]) -> int:
    return sum(last - first + 1 for first, last in gaps)


def listed_gaps(gaps: Iterable[tuple[int, int]], limit: int = GAP_LIST_MAX) -> list[int]:
    """The first `limit` missing numbers one by one."""
    out: list[int] = []
    for first, last in gaps:
        for seq in range(first, last + 1):
            if len(out) >= limit:
                return out
            out.append(seq)
    return out


def parse_sources(text: str) -> Optional[list[str]]:
    """A comma-separated CIDR allowlist, normalised; None when an entry is not a network.
    The empty list means any source."""
    nets = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            nets.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            return None
    return nets


def source_allowed(allowed_sources: str, remote_addr: str) -> bool:
    nets = parse_sources(allowed_sources or "")
    if not nets:
        return nets is not None
    try:
        addr = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n) for n in nets)


_DIRECTIONS = frozenset(d.value for d in Direction)


# --- judging an item ------------------------------------------------------------------------------


def item_error(item: PunchItem, serial: str) -> Optional[tuple[ItemError, str]]:
    """What is wrong with an item read by any channel, before the database is asked."""
    if item.error:
        return item.error, item.error_field
    if item.seq is None or not 0 < item.seq <= SEQ_MAX:
        return ItemError.BAD_SEQ, "seq"
    if not item.worker_ref or len(item.worker_ref) > WORKER_REF_MAX:
        return ItemError.BAD_WORKER, "worker_id"
    if item.time is None:
        return ItemError.BAD_TIME, "time"
    if item.direction not in _DIRECTIONS:
        return ItemError.BAD_DIRECTION, "direction"
    if item.match_score is not None and not 0 <= item.match_score <= MATCH_SCORE_MAX:
        return ItemError.BAD_SCORE, "match_score"
    if item.serial is not None and item.serial != serial:
        return ItemError.SERIAL_MISMATCH, "device"
    if item.photo is not None and len(item.photo) > MAX_PHOTO_BYTES:
        return ItemError.PHOTO_TOO_LARGE, "photo"
    if item.photo is not None and item.photo_sha256 and hashlib.sha256(item.photo).hexdigest() != item.photo_sha256:
        return ItemError.PHOTO_HASH_MISMATCH, "photo_sha256"
    return None
