"""GET /api/attendance/v1/templates: the project's face templates for one terminal (docs/terminal.md).

Signed like every request of the device API (auth.py). The answer is the envelope of
domain/device_templates.py: the admitted workers of the device's project with their face
templates (decrypted from the PII cipher, sealed again for this device with AES-256-GCM under
HKDF-SHA256 of its secret) and the ids of the workers whose access was revoked by an exit.
`?since=<version>` — the version the terminal holds — answers {"version", "unchanged": true}
when nothing changed. A template that does not decrypt is left out (and logged by worker id,
never its content). The device's last contact is noted.
"""
from __future__ import annotations

import logging

from flask import jsonify, request

from domain.attendance_devices import device_secret
from domain.device_templates import project_gallery, seal_gallery
from domain.models import utcnow
from domain.processes.attendance import HEX64_RE

from ..core import services
from ..refusals import INGEST_REFUSALS
from .auth import Refused, authenticate

log = logging.getLogger("shiming.web.attendance_api")


def templates():
    svc = services()
    since = request.args.get("since") or None
    since = since if since and HEX64_RE.fullmatch(since) else None
    try:
        with svc.Session.begin() as db:
            now = utcnow()
            device = authenticate(db, svc.cipher, request.get_data(cache=False), now)
            gallery = project_gallery(db, svc.cipher, device.project_id, since)
            device.last_contact_at = now
            serial, secret = device.serial, device_secret(svc.cipher, device)
    except Refused as exc:
        log.info("device request refused %s: %s", exc.code, exc.detail)
        return jsonify(code=str(exc.code), message=str(INGEST_REFUSALS[exc.code])), exc.status
    if gallery.unreadable:
        log.error("face templates of workers %s do not decrypt; left out of %s's templates", gallery.unreadable, serial)
    envelope = seal_gallery(gallery, serial, secret, since)
    return jsonify(envelope), 200
