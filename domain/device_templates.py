"""Face templates for a project's terminals (ATT-4, issue 11 point 4): what a terminal may match against.

`project_gallery(session, cipher, project_id)` reads the workers admitted to the project (a site
access grant for their engagement, the engagement admitted and not exited, and no revocation
issued after its admission: a worker re-enrolled after an exit is admitted again) that have a
face template, decrypted from the PII cipher (domain/face.py), and the workers whose access was
revoked (an exit's `SiteAccessRevocation`): the terminal drops their templates.

The answer travels sealed for one device (`seal_gallery` / `open_gallery`): AES-256-GCM under
key = HKDF-SHA256(the 32 secret bytes, salt none, info b"shiming templates"), a fresh 12-byte
nonce, the associated data binding it to the device's serial and the gallery's version, so an
answer for one device or version does not open as another. The envelope is JSON:

    {"version": "<64 hex>", "unchanged": false, "nonce": "<base64>", "ciphertext": "<base64>"}

and the plaintext, JSON too: {"project": {"id": int, "code": str}, "templates": [{"worker_id": int,
"template": "<base64 little-endian float32>"}], "revoked": [worker_id, ...]}. When the terminal
already holds the version (`?since=<version>`), the envelope is {"version": v, "unchanged": true}.
The version is a digest of what the gallery is made of (template rows and their times, revocations):
it changes whenever a worker is admitted, re-enrolled or revoked. Templates are never in clear on
the wire or in a log. A template that does not decrypt (tampered, another key) leaves that worker
out, named in `unreadable`, and the rest of the project goes on.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from .face import FaceRefused, decrypt_template
from .models import FaceTemplate, Project, ProjectWorker, SiteAccessGrant, SiteAccessRevocation
from .pii import PiiCipher
from .processes.worker_exit import EngagementStatus

HKDF_INFO = b"shiming templates"
NONCE_BYTES = 12


class SealedGalleryError(ValueError):
    """An envelope that does not open: another device's, another version's, altered or malformed."""


@dataclass
class Gallery:
    project_id: int
    project_code: str
    templates: list[tuple[int, bytes]] = field(default_factory=list, repr=False)  # (worker id, template bytes)
    revoked: list[int] = field(default_factory=list)
    version: str = ""
    unreadable: list[int] = field(default_factory=list, compare=False)  # templates that did not decrypt


def template_key(secret_hex: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return hkdf.derive(bytes.fromhex(secret_hex))


def _associated_data(serial: str, version: str) -> bytes:
    return f"shiming templates\n{serial}\n{version}".encode("utf-8")


def project_gallery(session: Session, cipher: PiiCipher, project_id: int, since: Optional[str] = None) -> Gallery:
    """The project's gallery; when `since` is its version already, without its templates (nothing
    is decrypted: the device holds them)."""
    project = session.get(Project, project_id)
    grants = session.execute(
        select(SiteAccessGrant.worker_id, ProjectWorker.admitted_at, ProjectWorker.status)
        .join(ProjectWorker, ProjectWorker.id == SiteAccessGrant.project_worker_id)
        .where(SiteAccessGrant.project_id == project_id)).all()
    revocations = dict(session.execute(
        select(SiteAccessRevocation.worker_id, SiteAccessRevocation.issued_at)
        .where(SiteAccessRevocation.project_id == project_id)).all())
    admitted = {worker_id for worker_id, admitted_at, status in grants
                if admitted_at is not None and status != EngagementStatus.EXITED
                and (worker_id not in revocations or revocations[worker_id] < admitted_at)}
    rows = [row for row in session.execute(
        select(FaceTemplate.id, FaceTemplate.worker_id, FaceTemplate.created_at, FaceTemplate.template_enc)
        .join(SiteAccessGrant, SiteAccessGrant.worker_id == FaceTemplate.worker_id)
        .where(SiteAccessGrant.project_id == project_id).order_by(FaceTemplate.worker_id))
        if row.worker_id in admitted]     # a join, not an IN list: 100,000 workers stay one query
    revoked = sorted(set(revocations) - admitted)
    digest = hashlib.sha256(f"project {project_id}\n".encode())
    for row_id, worker_id, created_at, _ in rows:
        digest.update(f"t {row_id} {worker_id} {created_at.isoformat()}\n".encode())
    for worker_id in revoked:
        digest.update(f"r {worker_id} {revocations[worker_id].isoformat()}\n".encode())
    templates, unreadable = [], []
    if since == digest.hexdigest():
        rows = []
    for _, worker_id, _, sealed in rows:
        try:
            templates.append((worker_id, decrypt_template(cipher, sealed, str(worker_id))))
        except FaceRefused:                 # tampered or another key: that worker is left out, not the project
            unreadable.append(worker_id)
    return Gallery(project_id, project.code, templates, revoked, digest.hexdigest(), unreadable)


def seal_gallery(gallery: Gallery, serial: str, secret_hex: str, since: Optional[str] = None) -> dict:
    if since is not None and since == gallery.version:
        return {"version": gallery.version, "unchanged": True}
    plaintext = json.dumps({
        "project": {"id": gallery.project_id, "code": gallery.project_code},
        "templates": [{"worker_id": w, "template": base64.b64encode(t).decode("ascii")} for w, t in gallery.templates],
        "revoked": gallery.revoked,
    }).encode("utf-8")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(template_key(secret_hex)).encrypt(nonce, plaintext, _associated_data(serial, gallery.version))
    return {"version": gallery.version, "unchanged": False, "nonce": base64.b64encode(nonce).decode("ascii"),
            "ciphertext": base64.b64encode(sealed).decode("ascii")}


def open_gallery(envelope: dict, serial: str, secret_hex: str) -> Gallery:
    """The device side: the gallery an envelope carries (raises SealedGalleryError)."""
    try:
        version = envelope["version"]
        nonce = base64.b64decode(envelope["nonce"], validate=True)
        sealed = base64.b64decode(envelope["ciphertext"], validate=True)
        plaintext = AESGCM(template_key(secret_hex)).decrypt(nonce, sealed, _associated_data(serial, version))
        body = json.loads(plaintext)
        templates = [(int(t["worker_id"]), base64.b64decode(t["template"], validate=True)) for t in body["templates"]]
        return Gallery(int(body["project"]["id"]), str(body["project"]["code"]), templates,
                       [int(w) for w in body["revoked"]], str(version))
    except InvalidTag:
        raise SealedGalleryError("the templates do not open with this device's secret") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SealedGalleryError(f"malformed templates envelope ({type(exc).__name__})") from None
