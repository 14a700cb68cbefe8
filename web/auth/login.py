"""Password login with lockout (ACC-5): every attempt is a LoginAttempt row and an audit row.

`lockout_threshold` failures within `lockout_window_minutes` lock the account for the same
number of minutes. Failures count only after the last success and after the end of the last
lock, so one mistake after a lock does not lock again at once. Unknown user names are counted
the same way, so the answers do not tell which accounts exist.

An enterprise account with a registered USB key logs in with the key only (ACC-3):
`attempt_login` refuses its right password with KEY_REQUIRED (audited `auth.login_key_required`),
and `attempt_key_login` checks a signed server challenge against the registered key, with the
same lockout bookkeeping (`auth.key_login_success` / `auth.key_login_failure` with the reason).

`reauthenticate` asks a logged-in user for the login password again before a sensitive change
(bank card, wage account); its failures count toward the same lockout, and a lockout there also
ends every session of the account.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain import audit
from domain.models import Account, LoginAttempt, utcnow
from domain.passwords import end_sessions, hash_password, verify_password
from domain.settings import Settings
from domain.usb_key import KeyLoginRefusal, verify_login_signature
from domain.usb_key_login import PURPOSE_LOGIN, KeyLoginError, fingerprint, key_required, registered_key, take_challenge


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against for unknown user names, so they take as long as known ones."""
    return hash_password("not-a-real-password-0")


class Outcome:
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    INACTIVE = "inactive"
    KEY_REQUIRED = "key_required"  # the right password of an account that logs in with its USB key


@dataclass
class LoginResult:
    outcome: str
    account: Optional[Account] = None
    refusal: Optional[KeyLoginRefusal] = None  # the USB-key login's reason


@dataclass
class _Counting:
    since: datetime  # failures after this moment count (window start or the end of the last lock)
    after_id: int  # ... and after the last success (by row order: times have whole seconds only)


def _failures_since(session: Session, username: str, counting: _Counting) -> int:
    return session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(False),
        LoginAttempt.created_at > counting.since, LoginAttempt.id > counting.after_id)) or 0


def _last_success_id(session: Session, username: str) -> int:
    return session.scalar(select(func.max(LoginAttempt.id)).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(True))) or 0


def _counting_since(session: Session, settings: Settings, username: str, account: Optional[Account],
                    now: datetime) -> _Counting:
    since = now - timedelta(minutes=settings.lockout_window_minutes)
    if account is not None and account.locked_until is not None and account.locked_until > since:
        since = account.locked_until
    return _Counting(since, _last_success_id(session, username))


def attempt_login(session: Session, settings: Settings, username: str, password: str,
                  remote_addr: str) -> LoginResult:
    now = utcnow()
    username = (username or "").strip()[:64]
    account = session.scalar(select(Account).where(Account.username == username))

    def note(succeeded: bool, action: str) -> None:
        session.add(LoginAttempt(username=username, succeeded=succeeded, remote_addr=remote_addr, created_at=now))
        audit.record(session, actor_id=account.id if account else None, actor_name=username or "?",
                     action=action, target_type="account", target_id=account.id if account else username,
                     remote_addr=remote_addr)

    if account is not None and account.locked_until is not None and account.locked_until > now:
        note(False, "auth.login_locked")
        return LoginResult(Outcome.LOCKED)
    counting = _counting_since(session, settings, username, account, now)
    if account is None and _failures_since(session, username, counting) >= settings.lockout_threshold:
        verify_password(_dummy_hash(), password)
        note(False, "auth.login_locked")
        return LoginResult(Outcome.LOCKED)

    good = verify_password(account.password_hash if account else _dummy_hash(), password)
    if good and account is not None:
        if not account.is_active or not account.can_login:
            note(False, "auth.login_inactive")
            return LoginResult(Outcome.INACTIVE)
        if key_required(session, account):
            note(False, "auth.login_key_required")
            return LoginResult(Outcome.KEY_REQUIRED)
        note(True, "auth.login_success")
        account.last_login_at = now
        account.locked_until = None
        return LoginResult(Outcome.OK, account)

    note(False, "auth.login_failure")
    session.flush()
    if _failures_since(session, username, counting) >= settings.lockout_threshold:
        if account is not None:
            account.locked_until = now + timedelta(minutes=settings.lockout_window_minutes)
            audit.record(session, actor_id=account.id, actor_name=username, action="auth.lockout",
                         target_type="account", target_id=account.id, remote_addr=remote_addr,
                         detail={"until": account.locked_until.isoformat()})
        return LoginResult(Outcome.LOCKED)
    return LoginResult(Outcome.BAD_CREDENTIALS)


def _lock_if_over(session: Session, settings: Settings, account: Optional[Account], username: str,
                  counting: _Counting, now: datetime, remote_addr: str) -> bool:
    session.flush()
    if _failures_since(session, username, counting) < settings.lockout_threshold:
        return False
    if account is not None:
        account.locked_until = now + timedelta(minutes=settings.lockout_window_minutes)
        audit.record(session, actor_id=account.id, actor_name=username, action="auth.lockout",
                     target_type="account", target_id=account.id, remote_addr=remote_addr,
                     detail={"until": account.locked_until.isoformat()})
    return True


def attempt_key_login(session: Session, settings: Settings, username: str, challenge: bytes, signature: bytes,
                      binding: Optional[str], remote_addr: str) -> LoginResult:
    """Log in with the USB key: `challenge` must be one this session was given for a login
    (single use, not expired) and `signature` the registered key's signature of it. Unknown
    user names, accounts without a key and wrong keys get one answer (BAD_SIGNATURE); the audit
    keeps the real reason."""
    now = utcnow()
    username = (username or "").strip()[:64]
    account = session.scalar(select(Account).where(Account.username == username))

    def note(succeeded: bool, action: str, reason: str = "", **detail) -> None:
        session.add(LoginAttempt(username=username, succeeded=succeeded, remote_addr=remote_addr, created_at=now))
        audit.record(session, actor_id=account.id if account else None, actor_name=username or "?",
                     action=action, target_type="account", target_id=account.id if account else username,
                     remote_addr=remote_addr, reason=reason or None, detail=detail or None)

    def refuse(code: KeyLoginRefusal, reason: str) -> LoginResult:
        note(False, "auth.key_login_failure", reason)
        if _lock_if_over(session, settings, account, username, counting, now, remote_addr):
            return LoginResult(Outcome.LOCKED, refusal=KeyLoginRefusal.LOCKED)
        return LoginResult(Outcome.BAD_CREDENTIALS, refusal=code)

    if account is not None and account.locked_until is not None and account.locked_until > now:
        note(False, "auth.login_locked")
        return LoginResult(Outcome.LOCKED, refusal=KeyLoginRefusal.LOCKED)
    counting = _counting_since(session, settings, username, account, now)
    if account is None and _failures_since(session, username, counting) >= settings.lockout_threshold:
        note(False, "auth.login_locked")
        return LoginResult(Outcome.LOCKED, refusal=KeyLoginRefusal.LOCKED)
    try:
        take_challenge(session, PURPOSE_LOGIN, binding, challenge, now=now)
    except KeyLoginError as exc:
        return refuse(exc.code, str(exc.code))
    credential = registered_key(session, account.id) if account is not None else None
    if credential is None:
        return refuse(KeyLoginRefusal.BAD_SIGNATURE, "unknown user" if account is None else "no key registered")
    if not verify_login_signature(bytes.fromhex(credential.public_key), challenge, signature):
        return refuse(KeyLoginRefusal.BAD_SIGNATURE, "wrong key or signature")
    if not account.is_active or not account.can_login:
        note(False, "auth.login_inactive")
        return LoginResult(Outcome.INACTIVE, refusal=KeyLoginRefusal.INACTIVE)
    note(True, "auth.key_login_success", fingerprint=fingerprint(credential.public_key))
    account.last_login_at = now
    account.locked_until = None
    return LoginResult(Outcome.OK, account)


@dataclass
class ReauthResult:
    ok: bool
    locked: bool = False
    remaining_attempts: int = 0  # wrong passwords left before the lockout (when not ok and not locked)


def reauthenticate(session: Session, settings: Settings, account_id: int, password: str, remote_addr: str,
                   purpose: str) -> ReauthResult:
    """Check the login password of a logged-in account again (audited as `auth.reauth_*`).

    A wrong password is a failed LoginAttempt, so it counts toward the login lockout; reaching the
    threshold locks the account and ends all its sessions. `purpose` names the change in the audit.
    """
    now = utcnow()
    account = session.get(Account, account_id)
    if account is None or not account.is_active or not account.can_login:
        return ReauthResult(False, locked=True)
    username = account.username

    def note(succeeded: bool, action: str) -> None:
        session.add(LoginAttempt(username=username, succeeded=succeeded, remote_addr=remote_addr, created_at=now))
        audit.record(session, actor_id=account.id, actor_name=username, action=action, target_type="account",
                     target_id=account.id, remote_addr=remote_addr, detail={"purpose": purpose})

    if account.locked_until is not None and account.locked_until > now:
        note(False, "auth.reauth_locked")
        return ReauthResult(False, locked=True)
    counting = _counting_since(session, settings, username, account, now)
    if verify_password(account.password_hash, password):
        note(True, "auth.reauth_success")
        return ReauthResult(True)
    note(False, "auth.reauth_failure")
    session.flush()
    failures = _failures_since(session, username, counting)
    if failures >= settings.lockout_threshold:
        account.locked_until = now + timedelta(minutes=settings.lockout_window_minutes)
        end_sessions(account)
        audit.record(session, actor_id=account.id, actor_name=username, action="auth.lockout",
                     target_type="account", target_id=account.id, remote_addr=remote_addr,
                     detail={"until": account.locked_until.isoformat(), "purpose": purpose})
        return ReauthResult(False, locked=True)
    return ReauthResult(False, remaining_attempts=settings.lockout_threshold - failures)
