"""Server side of the USB-key login (ACC-3): challenges, key registration, the signature check.

Contract:
- `issue_challenge(session, purpose, binding)` draws 32 random bytes for one browser session and
  stores only hashes: the challenge's (it is looked up when it comes back signed) and the
  session's binding secret's (a random value kept in that browser's signed session cookie). It
  lives `CHALLENGE_TTL` and serves once.
- `take_challenge(session, purpose, binding, challenge)` spends it: refused `challenge_unknown`
  (never issued, another session's, another purpose's), `challenge_expired`, `challenge_used` (a
  replay). Spending is one conditional UPDATE, so two requests with one challenge cannot both win.
- `registered_key(session, account_id)` / `register_key(...)`: one key per enterprise account, a
  key on one account only (`key_taken`). Registration proves possession: the key signs a
  registration challenge, checked against the offered public key.
- The web layer (web/auth/login.py `attempt_key_login`) checks the signature against the
  registered key with `domain.usb_key.verify_login_signature`, counts failures toward the login
  lockout and audits every outcome.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from domain import audit
from domain.errors import CodedError
from domain.models import Account, LoginChallenge, Role, UsbKeyCredential, utcnow
from domain.usb_key import PUBLIC_KEY_SIZE, KeyLoginRefusal, verify_login_signature

CHALLENGE_SIZE = 32
CHALLENGE_TTL = timedelta(minutes=2)
PURPOSE_LOGIN = "login"
PURPOSE_REGISTER = "register"


class KeyLoginError(CodedError):
    def __init__(self, code: KeyLoginRefusal, detail: str = ""):
        super().__init__(KeyLoginRefusal(code), detail)


def _digest(value: bytes | str) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def fingerprint(public_key_hex: str) -> str:
    """A short name of a public key for pages and the audit: the start of its SHA-256, grouped."""
    digest = _digest(bytes.fromhex(public_key_hex))[:16].upper()
    return " ".join(digest[i:i + 4] for i in range(0, 16, 4))


def new_binding() -> str:
    return secrets.token_urlsafe(32)


def issue_challenge(session: Session, purpose: str, binding: str, account_id: Optional[int] = None,
                    now: Optional[datetime] = None) -> bytes:
    now = now or utcnow()
    challenge = secrets.token_bytes(CHALLENGE_SIZE)
    session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at < now - CHALLENGE_TTL))
    session.add(LoginChallenge(challenge_hash=_digest(challenge), purpose=purpose, binding_hash=_digest(binding),
                               account_id=account_id, created_at=now, expires_at=now + CHALLENGE_TTL))
    return challenge


def take_challenge(session: Session, purpose: str, binding: Optional[str], challenge: bytes,
                   account_id: Optional[int] = None, now: Optional[datetime] = None) -> LoginChallenge:
    now = now or utcnow()
    row = session.scalar(select(LoginChallenge).where(LoginChallenge.challenge_hash == _digest(challenge)))
    if row is None or not binding or row.binding_hash != _digest(binding) or row.purpose != purpose \
            or (account_id is not None and row.account_id != account_id):
        raise KeyLoginError(KeyLoginRefusal.CHALLENGE_UNKNOWN)
    if row.used_at is not None:
        raise KeyLoginError(KeyLoginRefusal.CHALLENGE_USED)
    if row.expires_at <= now:
        raise KeyLoginError(KeyLoginRefusal.CHALLENGE_EXPIRED)
    spent = session.execute(update(LoginChallenge).where(LoginChallenge.id == row.id, LoginChallenge.used_at.is_(None))
                            .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise KeyLoginError(KeyLoginRefusal.CHALLENGE_USED)
    return row


def registered_key(session: Session, account_id: int) -> Optional[UsbKeyCredential]:
    return session.scalar(select(UsbKeyCredential).where(UsbKeyCredential.account_id == account_id))


def key_required(session: Session, account: Account) -> bool:
    """An enterprise account with a registered key logs in with the key only (docs/accounts.md)."""
    return account.role == Role.ENTERPRISE and registered_key(session, account.id) is not None


@dataclass
class Registration:
    credential: UsbKeyCredential
    replaced: Optional[str]  # the fingerprint of the key it replaces


def register_key(session: Session, account: Account, public_key: bytes, challenge: bytes, signature: bytes,
                 binding: Optional[str], remote_addr: str, now: Optional[datetime] = None) -> Registration:
    """Register (or replace) `account`'s USB key after the key signed a registration challenge of
    this session. The caller has re-checked the account's password. Audited `auth.usb_key_registered`."""
    now = now or utcnow()
    take_challenge(session, PURPOSE_REGISTER, binding, challenge, account_id=account.id, now=now)
    if len(public_key) != PUBLIC_KEY_SIZE or not verify_login_signature(public_key, challenge, signature):
        raise KeyLoginError(KeyLoginRefusal.BAD_SIGNATURE, "registration")
    key_hex = public_key.hex()
    owner = session.scalar(select(UsbKeyCredential).where(UsbKeyCredential.public_key == key_hex))
    if owner is not None and owner.account_id != account.id:
        raise KeyLoginError(KeyLoginRefusal.KEY_TAKEN)
    credential = registered_key(session, account.id)
    replaced = fingerprint(credential.public_key) if credential is not None else None
    if credential is None:
        credential = UsbKeyCredential(account_id=account.id)
        session.add(credential)
    credential.public_key = key_hex
    credential.registered_at = now
    credential.registered_by = account.id
    session.flush()
    audit.record(session, actor_id=account.id, actor_name=account.username, action="auth.usb_key_registered",
                 target_type="account", target_id=account.id, remote_addr=remote_addr,
                 detail={"fingerprint": fingerprint(key_hex), "replaced": replaced})
    return Registration(credential, replaced)


def remove_key(session: Session, actor: Account, target: Account, reason: str, remote_addr: str) -> Optional[str]:
    """The security administrator removes a lost or broken key (the account then logs in with its
    password until it registers a new key). Returns the removed key's fingerprint, None when the
    account had none. Audited `auth.usb_key_removed` with the reason."""
    credential = registered_key(session, target.id)
    if credential is None:
        return None
    removed = fingerprint(credential.public_key)
    session.delete(credential)
    audit.record(session, actor_id=actor.id, actor_name=actor.username, action="auth.usb_key_removed",
                 target_type="account", target_id=target.id, remote_addr=remote_addr, reason=reason,
                 detail={"fingerprint": removed})
    return removed
