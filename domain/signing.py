"""Security password, signing keys and signed wage steps (PAY-1, SEC-4, DESIGN decision 3).

A payroll specialist's Ed25519 private key is sealed under their security password: scrypt turns
the password into a 32-byte key, AES-256-GCM encrypts the raw private key. Every set or change
makes a new key pair; the old key is retired (its public half kept for verification, its sealed
private half destroyed). A wage step is a canonical JSON document signed with the key; each
document names the previous signature of the run, so a run's signatures form a chain that anyone
holding the public keys can check offline (docs/signing.md).

Failed security-password attempts are counted in their own short transaction, committed before
the error is raised, so a caller's rollback can never lose the count.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import audit
from .errors import CodedError
from .models import Account, SecurityPasswordState, SigningKey, WageRun, WageStepSignature, utcnow
from .passwords import policy_problems, verify_password

# scrypt cost: n=2**15, r=8, p=1 needs 32 MiB and takes about 120 ms on the 2-core machine class.
# The parameters are stored with every sealed key, so raising them later leaves old keys readable.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAX_N = 2**20  # refuse sealed blobs that would make unsealing a memory bomb

MAX_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=30)

SEALED_VERSION = 1
DOCUMENT_VERSION = 1
DOCUMENT_KIND = "shiming.wage_step"

_DESTROYED = json.dumps({"v": SEALED_VERSION, "destroyed": True}, sort_keys=True, separators=(",", ":"))
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{128}")
_SIGNED_AT = "%Y-%m-%dT%H:%M:%SZ"

SessionFactory = Union[sessionmaker, Session]


# ---- errors --------------------------------------------------------------------------------------


class SecurityPasswordError(CodedError):
    """A refused security-password operation.

    `code`: not_set | wrong | locked | weak | same_as_login | already_set.
    `remaining_attempts`: tries left before the lockout (for wrong / locked), else None.
    `problems`: for weak, the policy codes from `domain.passwords.policy_problems`.
    `locked_until`: for locked, naive UTC end of the lockout.
    """

    def __init__(
        self,
        code: str,
        remaining_attempts: Optional[int] = None,
        *,
        problems: tuple[str, ...] = (),
        locked_until: Optional[datetime] = None,
    ):
        super().__init__(code, message=code if remaining_attempts is None else f"{code} ({remaining_attempts} attempts left)")
        self.remaining_attempts = remaining_attempts
        self.problems = tuple(problems)
        self.locked_until = locked_until


class SignatureError(CodedError):
    """A signed wage step that is refused.

    `code`: bad_signature | unknown_key | wrong_actor | retired_key | broken_chain |
    document_mismatch | unknown_run.
    """


# ---- key sealing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnlockedKey:
    """A private key unlocked by the security password. Keep it only for the request that needs it."""

    key_id: int
    account_id: int
    public_key_hex: str
    private_key: Ed25519PrivateKey = field(repr=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _aad(account_id: int, public_key_hex: str) -> bytes:
    return f"signing-key:{account_id}:{public_key_hex}".encode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def _raw_private(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_hex(key: Union[Ed25519PrivateKey, Ed25519PublicKey]) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def seal_private_key(private_key: Ed25519PrivateKey, password: str, account_id: int) -> str:
    """The JSON stored in `SigningKey.sealed_private_key`."""
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ct = AESGCM(kek).encrypt(nonce, _raw_private(private_key), _aad(account_id, public_key_hex(private_key)))
    return json.dumps(
        {
            "v": SEALED_VERSION, "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
            "aead": "aes-256-gcm", "salt": _b64(salt), "nonce": _b64(nonce), "ct": _b64(ct),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def unseal_private_key(sealed: str, password: str, account_id: int, public_hex: str) -> Optional[Ed25519PrivateKey]:
    """The private key, or None when the password is wrong (or the blob belongs to another key)."""
    blob = json.loads(sealed)
    if blob.get("v") != SEALED_VERSION or blob.get("kdf") != "scrypt" or blob.get("aead") != "aes-256-gcm":
        raise ValueError("not a sealed signing key this version understands")
    n, r, p = int(blob["n"]), int(blob["r"]), int(blob["p"])
    if not (2 <= n <= _SCRYPT_MAX_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("sealed signing key has out-of-range scrypt parameters")
    kek = _derive(password, base64.b64decode(blob["salt"]), n, r, p)
    try:
        raw = AESGCM(kek).decrypt(base64.b64decode(blob["nonce"]), base64.b64decode(blob["ct"]),
                                  _aad(account_id, public_hex))
    except InvalidTag:
        return None
    private_key = Ed25519PrivateKey.from_private_bytes(raw)
    if public_key_hex(private_key) != public_hex:  # pragma: no cover - GCM already authenticates this
        return None
    return private_key


# ---- security password ---------------------------------------------------------------------------


def _factory(session_or_factory: SessionFactory) -> sessionmaker:
    if isinstance(session_or_factory, Session):
        return sessionmaker(bind=session_or_factory.get_bind(), expire_on_commit=False)
    return session_or_factory


def current_key(session: Session, account_id: int) -> Optional[SigningKey]:
    """The account's key in use (not retired), or None before a security password is set."""
    return session.scalar(
        select(SigningKey)
        .where(SigningKey.account_id == account_id, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.id.desc())
        .limit(1)
    )


def public_key_history(session: Session, account_id: int) -> list[SigningKey]:
    """Every key the account has had, oldest first; retired ones still verify old signatures."""
    return list(session.scalars(
        select(SigningKey).where(SigningKey.account_id == account_id).order_by(SigningKey.id)
    ))


def _actor_name(account: Optional[Account]) -> str:
    return (account.display_name or account.username) if account is not None else ""


def _locked_state(session: Session, account_id: int) -> SecurityPasswordState:
    """The account's attempt counter, locked for this transaction.

    The no-op UPDATE comes first because SQLite ignores FOR UPDATE: it takes SQLite's write lock
    (and the row lock on MySQL), so the read below sees the latest count and concurrent attempts
    queue up instead of overwriting each other's increments.
    """
    session.execute(
        update(SecurityPasswordState)
        .where(SecurityPasswordState.account_id == account_id)
        .values(failed_count=SecurityPasswordState.failed_count)
        .execution_options(synchronize_session=False)
    )
    state = session.scalar(
        select(SecurityPasswordState)
        .where(SecurityPasswordState.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if state is None:
        state = SecurityPasswordState(account_id=account_id, failed_count=0)
        session.add(state)
    return state


def _expire_lock(state: SecurityPasswordState, now: datetime) -> None:
    if state.locked_until is not None and state.locked_until <= now:
        state.locked_until = None
        state.failed_count = 0


def unlock(
    session_factory: SessionFactory, account_id: int, password: str, *, remote_addr: Optional[str] = None
) -> UnlockedKey:
    """Unlock the account's current private key with its security password.

    Takes the `sessionmaker` (a `Session` is accepted too: only its engine is used) and runs in its
    own short transactions: the attempt is counted and audited, and committed, before any error is
    raised, whatever the caller's transaction does afterwards. On SQLite, call it while your own
    session holds no write lock (do it before your writes), or it waits for the busy timeout.

    Raises SecurityPasswordError: not_set, locked (also for the right password while locked),
    wrong (with the attempts left; the fifth consecutive wrong one locks for 30 minutes).
    """
    factory = _factory(session_factory)
    with factory() as session:  # read-only: refuse early, without spending scrypt time
        key = current_key(session, account_id)
        state = session.get(SecurityPasswordState, account_id)
        if key is None:
            raise SecurityPasswordError("not_set")
        if state is not None and state.locked_until is not None and state.locked_until > utcnow():
            raise SecurityPasswordError("locked", 0, locked_until=state.locked_until)
        key_id, public_hex, sealed = key.id, key.public_key, key.sealed_private_key

    private_key = unseal_private_key(sealed, password, account_id, public_hex)

    with factory.begin() as session:
        now = utcnow()
        state = _locked_state(session, account_id)  # concurrent attempts queue up here
        _expire_lock(state, now)
        if state.locked_until is not None:
            # locked by a concurrent attempt meanwhile: answer nothing about this password
            error = SecurityPasswordError("locked", 0, locked_until=state.locked_until)
        elif private_key is not None:
            now_current = current_key(session, account_id)
            if now_current is None or now_current.id != key_id:
                error = SecurityPasswordError("wrong")  # changed meanwhile: not the current password now
            else:
                state.failed_count = 0
                return UnlockedKey(key_id=key_id, account_id=account_id, public_key_hex=public_hex,
                                   private_key=private_key)
        else:
            error = _count_wrong_attempt(session, state, account_id, now, remote_addr)
    raise error  # the transaction above has committed the count and the audit rows


def _count_wrong_attempt(
    session: Session, state: SecurityPasswordState, account_id: int, now: datetime, remote_addr: Optional[str]
) -> SecurityPasswordError:
    state.failed_count = (state.failed_count or 0) + 1
    remaining = max(MAX_ATTEMPTS - state.failed_count, 0)
    name = _actor_name(session.get(Account, account_id))
    audit.record(session, actor_id=account_id, actor_name=name, action="security_password.wrong",
                 target_type="account", target_id=account_id, remote_addr=remote_addr,
                 detail={"failed_count": state.failed_count, "remaining_attempts": remaining})
    if remaining > 0:
        return SecurityPasswordError("wrong", remaining)
    state.locked_until = now + LOCKOUT
    audit.record(session, actor_id=account_id, actor_name=name, action="security_password.locked",
                 target_type="account", target_id=account_id, remote_addr=remote_addr,
                 detail={"failed_count": state.failed_count, "locked_until": state.locked_until.isoformat() + "Z"})
    return SecurityPasswordError("locked", 0, locked_until=state.locked_until)


def security_password_problems(new_password: str, login_password_hash: Optional[str] = None) -> list[str]:
    """Why a new security password is refused: the login-password policy codes, plus same_as_login."""
    problems = policy_problems(new_password)
    if login_password_hash and verify_password(login_password_hash, new_password):
        problems.append("same_as_login")
    return problems


def set_security_password(
    session: Session,
    account_id: int,
    new_password: str,
    current_password: Optional[str] = None,
    *,
    login_password_hash: Optional[str] = None,
    remote_addr: Optional[str] = None,
) -> SigningKey:
    """Set (first time, `current_password` None) or change the security password.

    Either way a new Ed25519 key pair is made and sealed under the new password; on a change the
    previous key is retired (public half kept, sealed private half destroyed). The policy is the
    login-password policy (8+ characters, letters and digits) and, given `login_password_hash`,
    a security password different from the login password.

    A change verifies `current_password` through `unlock`, in its own committed transaction, so a
    wrong one counts toward the lockout even if the caller rolls back. Call this before writing
    anything else in `session` (SQLite allows one writer at a time). The new key is written in
    `session`; the caller commits.

    Raises SecurityPasswordError: weak, same_as_login, already_set, not_set, wrong, locked.
    """
    problems = security_password_problems(new_password, login_password_hash)
    if "same_as_login" in problems:
        raise SecurityPasswordError("same_as_login", problems=tuple(problems))
    if problems:
        raise SecurityPasswordError("weak", problems=tuple(problems))

    unlocked = None
    if current_password is not None:  # first, before this session writes or locks anything
        unlocked = unlock(session, account_id, current_password, remote_addr=remote_addr)
    private_key = Ed25519PrivateKey.generate()
    sealed = seal_private_key(private_key, new_password, account_id)  # scrypt before taking any lock

    account = session.scalar(select(Account).where(Account.id == account_id).with_for_update())
    if account is None:
        raise ValueError(f"no account {account_id}")
    previous = current_key(session, account_id)
    if unlocked is None and previous is not None:
        raise SecurityPasswordError("already_set")
    if unlocked is not None and (previous is None or previous.id != unlocked.key_id):
        raise SecurityPasswordError("wrong")  # changed meanwhile by another request

    now = utcnow()
    if previous is not None:
        previous.retired_at = now
        previous.sealed_private_key = _DESTROYED
    new_key = SigningKey(account_id=account_id, public_key=public_key_hex(private_key), sealed_private_key=sealed,
                         created_at=now)
    session.add(new_key)
    state = _locked_state(session, account_id)
    state.failed_count, state.locked_until, state.changed_at = 0, None, now
    session.flush()
    live = session.scalar(select(func.count()).select_from(SigningKey)
                          .where(SigningKey.account_id == account_id, SigningKey.retired_at.is_(None)))
    if live != 1:  # a concurrent first-time set won the race (SQLite has no row locks)
        raise SecurityPasswordError("already_set")

    detail: dict[str, Any] = {"key_id": new_key.id, "public_key": new_key.public_key}
    if previous is not None:
        detail.update(retired_key_id=previous.id, retired_public_key=previous.public_key)
    audit.record(session, actor_id=account_id, actor_name=_actor_name(account),
                 action="security_password.change" if previous is not None else "security_password.set",
                 target_type="account", target_id=account_id, remote_addr=remote_addr, detail=detail)
    return new_key


# ---- signed wage steps ---------------------------------------------------------------------------


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
    if prev_signature is not None and not _SIGNATURE_HEX.fullmatch(prev_signature):
        raise ValueError("prev_signature must be 128 lower-case hex digits or None")
    return canonical_json({
        "kind": DOCUMENT_KIND,
        "v": DOCUMENT_VERSION,
        "run_id": run_id,
        "step": step,
        "content_sha256": content_sha256,
        "actor_id": actor_id,
        "signed_at": _utc_naive(signed_at).strftime(_SIGNED_AT),
        "prev_signature": prev_signature,
    })


def parse_step_document(document: str) -> Optional[dict]:
    """The fields of a canonical step document (signed_at as naive UTC datetime), else None."""
    try:
        data = json.loads(document)
        rebuilt = step_document(
            run_id=data["run_id"], step=data["step"], content_sha256=data["content_sha256"],
            actor_id=data["actor_id"], signed_at=datetime.strptime(data["signed_at"], _SIGNED_AT),
            prev_signature=data["prev_signature"],
        )
    except (ValueError, KeyError, TypeError):
        return None
    if rebuilt != document:
        return None
    data["signed_at"] = datetime.strptime(data["signed_at"], _SIGNED_AT)
    return data


def sign(unlocked: UnlockedKey, document: str) -> str:
    """Ed25519 signature of the document's UTF-8 bytes, hex."""
    return unlocked.private_key.sign(document.encode("utf-8")).hex()


def _signature_valid(public_hex: str, document: str, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), document.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


def _signed_after_retirement(key: SigningKey, document: str) -> bool:
    fields = parse_step_document(document)
    return key.retired_at is not None and fields is not None and fields["signed_at"] > key.retired_at


def verify(session: Session, signing_key_id: int, document: str, signature_hex: str) -> bool:
    """Whether the stored key (current or retired) signed the document.

    A step document dated after its key's retirement does not verify.
    """
    key = session.get(SigningKey, signing_key_id)
    return (key is not None and _signature_valid(key.public_key, document, signature_hex)
            and not _signed_after_retirement(key, document))


def document_sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


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
    fields = parse_step_document(document)
    if fields is None:
        raise SignatureError("document_mismatch", "not a canonical step document")
    if (fields["run_id"], fields["step"], fields["actor_id"]) != (run_id, step, actor_id):
        raise SignatureError("document_mismatch", "document does not name this run, step and actor")
    key = session.get(SigningKey, signing_key_id)
    if key is None:
        raise SignatureError("unknown_key", f"no signing key {signing_key_id}")
    if key.account_id != actor_id:
        raise SignatureError("wrong_actor", f"signing key {signing_key_id} is not account {actor_id}'s")
    if not _SIGNATURE_HEX.fullmatch(signature_hex or "") or not _signature_valid(
            key.public_key, document, signature_hex):
        raise SignatureError("bad_signature", "the signature does not match the document and key")
    if _signed_after_retirement(key, document):
        raise SignatureError("retired_key", f"signing key {signing_key_id} was retired before the document's time")

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

    account = session.get(Account, actor_id)
    audit.record(session, actor_id=actor_id, actor_name=_actor_name(account), action="wage_step.signed",
                 target_type="wage_run", target_id=run_id, business_key=run.workflow_id,
                 detail={"step": step, "signature_id": row.id, "signing_key_id": signing_key_id,
                         "document_sha256": document_sha256(document)})
    return row


def _check_link(fields: dict, last: Optional[WageStepSignature]) -> None:
    expected = last.signature if last is not None else None
    if fields["prev_signature"] != expected:
        raise SignatureError("broken_chain", "prev_signature is not the run's last signature")
    previous = parse_step_document(last.document) if last is not None else None
    if previous is not None and fields["signed_at"] < previous["signed_at"]:
        raise SignatureError("broken_chain", "document is dated before the run's previous step")


# ---- chain verification --------------------------------------------------------------------------


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
                "key_retired_at": key.retired_at.strftime(_SIGNED_AT) if key and key.retired_at else None,
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
            if not _signature_valid(entry["public_key"], entry["document"], entry["signature"]):
                problems.append(f"{where}: the signature does not verify (document or signature altered)")
            retired = entry["key_retired_at"]
            if fields is not None and retired and fields["signed_at"] > datetime.strptime(retired, _SIGNED_AT):
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
