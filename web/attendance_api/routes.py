"""The views of the signed punch API (docs/attendance-api.yaml).

POST /punches takes a batch: the request is authenticated (auth.py), each item read (wire.py) and
judged by `domain.punches.ingest`, and the answer — one result per item — is sent only after the
transaction committed, so a device that got an answer may forget the batch. A request that fails
on a unique constraint (the same (device, seq) or nonce inserted concurrently) is run again from
the start: its resent punches are then duplicates. GET /gaps answers the device's own missing
sequence numbers. Whole-request refusals answer JSON {"code", "message"} with 400/401/403/413.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request

from domain.attendance_devices import first_seq, sequence_gaps
from domain.models import utcnow
from domain.processes.attendance import (
    API_PREFIX,
    GAP_LIST_MAX,
    MAX_BATCH_ITEMS,
    IngestRefusal,
    ItemOutcome,
    PunchChannel,
    gap_count,
    listed_gaps,
)
from domain.punches import ingest

from ..core import services
from ..device_retry import StillColliding, run_retrying
from ..refusals import INGEST_REFUSALS, ITEM_ERRORS
from . import templates
from .auth import Refused, authenticate
from .wire import read_item

bp = Blueprint("attendance_api", __name__, url_prefix=API_PREFIX)
bp.add_url_rule("/templates", view_func=templates.templates, methods=["GET"])  # the terminal's sync (templates.py)
log = logging.getLogger("shiming.web.attendance_api")

API_CHANNELS = (PunchChannel.API.value, PunchChannel.TERMINAL.value)
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "attendance-api.yaml"


def _refused(exc: Refused):
    log.info("device request refused %s: %s", exc.code, exc.detail)
    message = str(INGEST_REFUSALS[exc.code]) % {"items": MAX_BATCH_ITEMS} \
        if exc.code == IngestRefusal.BATCH_TOO_LARGE else str(INGEST_REFUSALS[exc.code])
    response = jsonify(code=str(exc.code), message=message)
    if exc.code == IngestRefusal.BUSY:
        response.headers["Retry-After"] = "1"
    return response, exc.status


def _batch(body: bytes) -> tuple[list, PunchChannel]:
    """The items of a signed batch and the channel it names (`api` unless the platform's own
    terminal says `terminal`; the body is signed, so the channel is the device's word)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Refused(IngestRefusal.MALFORMED_BATCH, "not JSON") from None
    punches = doc.get("punches") if isinstance(doc, dict) else None
    if not isinstance(punches, list) or not punches:
        raise Refused(IngestRefusal.MALFORMED_BATCH, "no punches")
    if len(punches) > MAX_BATCH_ITEMS:
        raise Refused(IngestRefusal.BATCH_TOO_LARGE, f"{len(punches)} items")
    channel = doc.get("channel", PunchChannel.API.value)
    if channel not in API_CHANNELS:
        raise Refused(IngestRefusal.MALFORMED_BATCH, "channel")
    return [read_item(p) for p in punches], PunchChannel(channel)


def _answer(result) -> dict:
    results = [{"index": r.index, "seq": r.seq, "outcome": str(r.outcome), "code": str(r.code) if r.code else None,
                "field": r.field or None, "message": str(ITEM_ERRORS[r.code]) if r.code else ""}
               for r in result.results]
    return {"stored": result.count(ItemOutcome.STORED), "duplicates": result.count(ItemOutcome.DUPLICATE),
            "quarantined": result.count(ItemOutcome.QUARANTINED), "rejected": result.count(ItemOutcome.REJECTED),
            "results": results}


def _body() -> bytes:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        raise Refused(IngestRefusal.BATCH_TOO_LARGE, f"{request.content_length} bytes")
    return request.get_data(cache=False)


def _commit_batch(svc, body: bytes):
    """One signed batch in one transaction: authenticated, judged, written, committed."""
    with svc.Session.begin() as db:
        now = utcnow()
        device = authenticate(db, svc.cipher, body, now)
        items, channel = _batch(body)
        return ingest(db, device, items, channel=channel, received_at=now, blobs=svc.blobs)


@bp.post("/punches")
def punches():
    svc = services()
    try:
        body = _body()
        try:
            result = run_retrying(lambda: _commit_batch(svc, body), "device batch")  # committed: only now acknowledged
        except StillColliding as exc:
            raise Refused(IngestRefusal.BUSY, "concurrent transactions") from exc
    except Refused as exc:
        return _refused(exc)
    return jsonify(_answer(result)), 200


@bp.get("/gaps")
def gaps():
    svc = services()
    try:
        with svc.Session.begin() as db:
            device = authenticate(db, svc.cipher, _body(), utcnow())
            ranges = sequence_gaps(db, device)
            serial = device.serial
            start = first_seq(device)
    except Refused as exc:
        return _refused(exc)
    return jsonify(device=serial, counted_from=start, missing_count=gap_count(ranges),
                   missing=listed_gaps(ranges), ranges=[list(r) for r in ranges[:GAP_LIST_MAX]]), 200


@bp.get("/openapi.yaml")
def openapi():
    if not OPENAPI.is_file():
        abort(404)
    return Response(OPENAPI.read_bytes(), mimetype="application/yaml")
