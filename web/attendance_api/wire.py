"""The wire form of the signed punch API's items (docs/attendance-api.yaml): JSON → PunchItem.

Reading never raises: a field that cannot be read gives an item whose `error` names it, and the
item is rejected with that code while the rest of the batch goes on."""
from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Optional

from domain.processes.attendance import HEX64_RE, MAX_PHOTO_BYTES, SEQ_MAX, ItemError, PunchItem

def _bad(error: ItemError, field: str, seq: Optional[int] = None) -> PunchItem:
    return PunchItem(seq=seq, worker_ref="", time=None, direction="", error=error, error_field=field)


def _int_field(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_time(value) -> Optional[datetime]:
    """ISO-8601 with an offset (or Z); None otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _read_photo(obj: dict) -> tuple[Optional[bytes], Optional[str], Optional[tuple[ItemError, str]]]:
    photo, digest = obj.get("photo"), obj.get("photo_sha256")
    if digest is not None and (not isinstance(digest, str) or not HEX64_RE.fullmatch(digest.lower())):
        return None, None, (ItemError.BAD_PHOTO, "photo_sha256")
    if photo is None:
        return None, digest.lower() if digest else None, None
    if not isinstance(photo, str) or len(photo) > MAX_PHOTO_BYTES * 4 // 3 + 8:
        return None, None, (ItemError.PHOTO_TOO_LARGE if isinstance(photo, str) else ItemError.BAD_PHOTO, "photo")
    try:
        data = base64.b64decode(photo, validate=True)
    except (binascii.Error, ValueError):
        return None, None, (ItemError.BAD_PHOTO, "photo")
    if not data.startswith(b"\xff\xd8\xff"):
        return None, None, (ItemError.BAD_PHOTO, "photo")
    return data, digest.lower() if digest else None, None


def read_item(obj) -> PunchItem:
    """One element of `punches` → a PunchItem; a field that cannot be read sets `error`."""
    if not isinstance(obj, dict):
        return _bad(ItemError.NOT_AN_OBJECT, "")
    for name in ("seq", "worker_id", "time", "direction"):
        if obj.get(name) is None:
            return _bad(ItemError.MISSING_FIELD, name, _int_field(obj.get("seq")))
    seq = _int_field(obj["seq"])
    if seq is None or not 0 < seq <= SEQ_MAX:
        return _bad(ItemError.BAD_SEQ, "seq")
    worker = _int_field(obj["worker_id"])
    if worker is None or not 0 < worker <= SEQ_MAX:
        return _bad(ItemError.BAD_WORKER, "worker_id", seq)
    when = read_time(obj["time"])
    if when is None:
        return _bad(ItemError.BAD_TIME, "time", seq)
    serial = obj.get("device")
    if serial is not None and not isinstance(serial, str):
        return _bad(ItemError.SERIAL_MISMATCH, "device", seq)
    score = obj.get("match_score")
    if score is not None and _int_field(score) is None:
        return _bad(ItemError.BAD_SCORE, "match_score", seq)
    photo, digest, photo_error = _read_photo(obj)
    if photo_error:
        return _bad(photo_error[0], photo_error[1], seq)
    return PunchItem(seq=seq, worker_ref=str(worker), time=when, direction=str(obj["direction"]),
                     match_score=score, photo=photo, photo_sha256=digest, serial=serial)


