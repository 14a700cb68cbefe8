"""A run's signed steps as a chain: each step names the previous signature, and the chain verifies
offline with the public keys alone (docs/signing.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..errors import CodedError
from ..models import Account, SigningKey, WageRun, WageStepSignature, utcnow
from .documents import SIGNATURE_HEX, SIGNED_AT, document_sha256, parse_step_document, signature_valid
from .security_password import actor_name


class SignatureError(CodedError):
    """A signed wage step that is refused.

    `code`: bad_signature | unknown_key | wrong_actor | retired_key | broken_chain |
    document_mismatch | unknown_run.
    """


def _signed_after_retirement(key: SigningKey, document: str) -> bool:
    fields = parse_step_document(document)
    return key.retired_at is not None and fields is not None and fields["signed_at"] > key.retired_at


def verify(session: Session, signing_key_id: int, document: str, signature_hex: str) -> bool:
    """Whether the stored key (current or retired) signed the document.

    A step document dated after its key's retirement does not verify.
    """
    key = session.get(SigningKey, signing_key_id)
    return (key is not None and signature_valid(key.public_key, document, signature_hex)
            and not _signed_after_retirement(key, document))


# ---- appending -----------------------------------------------------------------------------------


def _last_signature(session: Session, run_id: int, before_id: Optional[int] = None) -> Optional[WageStepSignature]:
    query = select(WageStepSignature).where(WageStepSignature.run_id == run_id)
    if before_id is not None:
        query = query.where(WageStepSignature.id < before_id)
    return session.scalar(query.order_by(WageStepSignature.id.desc()).limit(1).with_for_update())


def record_signature(
    session: Session,
    *,
    run_id: int,
    step: str,
    document: str,
    signature_hex: str,
    signing_key_id: int,
    actor_id: int,
) -> WageStepSignature:
    """Verify a signed step and append it to the run's chain; nothing is written when refused.

    Checks, in order: the document is canonical and names this run, step and actor
    (document_mismatch); the key exists (unknown_key) and is the actor's (wrong_actor); the
    signature verifies (bad_signature); the document is not dated after the key's retirement
    (retired_key); its prev_signature is the run's last signature and it is not dated before it
    (broken_chain). The run row is locked so concurrent steps of one run queue up.
    """
    fields = _document_fields(document, run_id, step, actor_id)
    _check_signed_by_actor(session, document, signature_hex, signing_key_id, actor_id)
    run = session.scalar(select(WageRun).where(WageRun.id == run_id).with_for_update())
    if run is None:
        raise SignatureError("unknown_run", f"no wage run {run_id}")
    last = _last_signature(session, run_id)
    _check_link(fields, last)

    row = WageStepSignature(run_id=run_id, step=step, document=document, signature=signature_hex,
                            signing_key_id=signing_key_id, actor_id=actor_id, created_at=utcnow())
    session.add(row)
    session.flush()
    # Now that this transaction writes, re-read the predecessor: a concurrent append that slipped
    # in between (SQLite has no row locks) breaks the chain and must not be committed.
    if _last_signature(session, run_id, before_id=row.id) is not last:
        raise SignatureError("broken_chain", "another step was signed for this run meanwhile")

    audit.record(session, actor_id=actor_id, actor_name=actor_name(session.get(Account, actor_id)),
                 action="wage_step.signed", target_type="wage_run", target_id=run_id, business_key=run.workflow_id,
                 detail={"step": step, "signature_id": row.id, "signing_key_id": signing_key_id,
                         "document_sha256": document_sha256(document)})
    return row


def _document_fields(document: str, run_id: int, step: str, actor_id: int) -> dict:
    """The fields of a canonical step document that names this run, step and actor."""
    fields = parse_step_document(document)
    if fields is None:
        raise SignatureError("document_mismatch", "not a canonical step document")
    if (fields["run_id"], fields["step"], fields["actor_id"]) != (run_id, step, actor_id):
        raise SignatureError("document_mismatch", "document does not name this run, step and actor")
    return fields


def _check_signed_by_actor(session: Session, document: str, signature_hex: str, signing_key_id: int,
                           actor_id: int) -> None:
    """The actor's key, in force at the document's time, made the signature."""
    key = session.get(SigningKey, signing_key_id)
    if key is None:
        raise SignatureError("unknown_key", f"no signing key {signing_key_id}")
    if key.account_id != actor_id:
        raise SignatureError("wrong_actor", f"signing key {signing_key_id} is not account {actor_id}'s")
    if not SIGNATURE_HEX.fullmatch(signature_hex or "") or not signature_valid(
            key.public_key, document, signature_hex):
        raise SignatureError("bad_signature", "the signature does not match the document and key")
    if _signed_after_retirement(key, document):
        raise SignatureError("retired_key", f"signing key {signing_key_id} was retired before the document's time")


def _check_link(fields: dict, last: Optional[WageStepSignature]) -> None:
    expected = last.signature if last is not None else None
    if fields["prev_signature"] != expected:
        raise SignatureError("broken_chain", "prev_signature is not the run's last signature")
    previous = parse_step_document(last.document) if last is not None else None
    if previous is not None and fields["signed_at"] < previous["signed_at"]:
        raise SignatureError("broken_chain", "document is dated before the run's previous step")


# ---- verifying -----------------------------------------------------------------------------------


def export_chain(session: Session, run_id: int) -> dict:
    """A run's signatures with the public keys they need, as plain JSON-able data.

    `check_exported_chain` (or the standalone snippet in docs/signing.md) verifies it offline.
    """
    rows = session.execute(
        select(WageStepSignature, SigningKey)
        .outerjoin(SigningKey, SigningKey.id == WageStepSignature.signing_key_id)
        .where(WageStepSignature.run_id == run_id)
        .order_by(WageStepSignature.id)
    ).all()
    return {
        "run_id": run_id,
        "signatures": [
            {
                "id": sig.id,
                "step": sig.step,
                "actor_id": sig.actor_id,
                "document": sig.document,
                "signature": sig.signature,
                "signing_key_id": sig.signing_key_id,
                "public_key": key.public_key if key else None,
                "key_account_id": key.account_id if key else None,
                "key_retired_at": key.retired_at.strftime(SIGNED_AT) if key and key.retired_at else None,
            }
            for sig, key in rows
        ],
    }


def check_exported_chain(chain: dict, *, expected_last_signature: Optional[str] = None) -> list[str]:
    """Problems with an exported chain (empty when every link holds); needs no database."""
    problems: list[str] = []
    run_id = chain["run_id"]
    prev_signature: Optional[str] = None
    prev_time: Optional[datetime] = None
    for entry in chain["signatures"]:
        where = f"step {entry['step']!r} (signature #{entry['id']})"
        fields = parse_step_document(entry["document"])
        if fields is None:
            problems.append(f"{where}: the document is not a canonical step document")
        elif (fields["run_id"], fields["step"], fields["actor_id"]) != (run_id, entry["step"], entry["actor_id"]):
            problems.append(f"{where}: the document names another run, step or actor than its row")
        if entry["public_key"] is None:
            problems.append(f"{where}: signing key {entry['signing_key_id']} is unknown")
        else:
            if entry["key_account_id"] != entry["actor_id"]:
                problems.append(f"{where}: signed with a key of account {entry['key_account_id']}, "
                                f"not of the actor {entry['actor_id']}")
            if not signature_valid(entry["public_key"], entry["document"], entry["signature"]):
                problems.append(f"{where}: the signature does not verify (document or signature altered)")
            retired = entry["key_retired_at"]
            if fields is not None and retired and fields["signed_at"] > datetime.strptime(retired, SIGNED_AT):
                problems.append(f"{where}: signed {fields['signed_at']:%Y-%m-%d %H:%M:%S} UTC with a key "
                                f"retired at {retired}")
        if fields is not None:
            if fields["prev_signature"] != prev_signature:
                problems.append(f"{where}: the chain is broken: prev_signature is not the previous "
                                f"signature (a step was altered, removed or reordered)")
            if prev_time is not None and fields["signed_at"] < prev_time:
                problems.append(f"{where}: dated before the previous step")
            prev_time = fields["signed_at"]
        prev_signature = entry["signature"]
    if expected_last_signature is not None and prev_signature != expected_last_signature:
        problems.append("the chain does not end with the expected last signature (a step was removed)")
    return problems


def verify_chain(session: Session, run_id: int, *, expected_last_signature: Optional[str] = None) -> list[str]:
    """Problems with the run's signature chain, in id order; an empty list means it verifies.

    The chain alone cannot show that its last steps were cut off; pass the last signature the
    process knows (`expected_last_signature`) to check that too.
    """
    return check_exported_chain(export_chain(session, run_id), expected_last_signature=expected_last_signature)
