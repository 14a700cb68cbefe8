"""The step document a specialist signs for one wage step, and its Ed25519 signature (docs/signing.md)."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import UnlockedKey

DOCUMENT_VERSION = 1
DOCUMENT_KIND = "shiming.wage_step"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
SIGNATURE_HEX = re.compile(r"[0-9a-f]{128}")
SIGNED_AT = "%Y-%m-%dT%H:%M:%SZ"


def _utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def canonical_json(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def step_document(
    *,
    run_id: int,
    step: str,
    content_sha256: str,
    actor_id: int,
    signed_at: datetime,
    prev_signature: Optional[str],
) -> str:
    """The canonical JSON a specialist signs for one wage step (docs/signing.md).

    Sorted keys, no spaces, UTF-8; `signed_at` in UTC to the second with a 'Z' (a naive datetime
    is taken as UTC, like every time in the models); `prev_signature` is the run's previous
    signature (hex) or null for the first step.
    """
    if not isinstance(run_id, int) or not isinstance(actor_id, int) or isinstance(run_id, bool):
        raise ValueError("run_id and actor_id must be integers")
    if not step or len(step) > 20:
        raise ValueError("step must be 1-20 characters")
    if not _SHA256_HEX.fullmatch(content_sha256 or ""):
        raise ValueError("content_sha256 must be 64 lower-case hex digits")
    if prev_signature is not None and not SIGNATURE_HEX.fullmatch(prev_signature):
        raise ValueError("prev_signature must be 128 lower-case hex digits or None")
    return canonical_json({
        "kind": DOCUMENT_KIND,
        "v": DOCUMENT_VERSION,
        "run_id": run_id,
        "step": step,
        "content_sha256": content_sha256,
        "actor_id": actor_id,
        "signed_at": _utc_naive(signed_at).strftime(SIGNED_AT),
        "prev_signature": prev_signature,
    })


def parse_step_document(document: str) -> Optional[dict]:
    """The fields of a canonical step document (signed_at as naive UTC datetime), else None."""
    try:
        data = json.loads(document)
        rebuilt = step_document(
            run_id=data["run_id"], step=data["step"], content_sha256=data["content_sha256"],
            actor_id=data["actor_id"], signed_at=datetime.strptime(data["signed_at"], SIGNED_AT),
            prev_signature=data["prev_signature"],
        )
    except (ValueError, KeyError, TypeError):
        return None
    if rebuilt != document:
        return None
    data["signed_at"] = datetime.strptime(data["signed_at"], SIGNED_AT)
    return data


def document_sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def sign(unlocked: UnlockedKey, document: str) -> str:
    """Ed25519 signature of the document's UTF-8 bytes, hex."""
    return unlocked.private_key.sign(document.encode("utf-8")).hex()


def signature_valid(public_hex: str, document: str, signature_hex: str) -> bool:
    """Whether the Ed25519 public key (hex) signed the document."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), document.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True
