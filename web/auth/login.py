"""Password login with lockout (ACC-5): every attempt is a LoginAttempt row and an audit row.

`lockout_threshold` failures within `lockout_window_minutes` lock the account for the same
number of minutes. Failures count only after the last success and after the end of the last
lock, so one mistake after a lock does not lock again at once. Unknown user names are counted
the same way, so the answers do not tell which accounts exist.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain import audit
from domain.models import Account, LoginAttempt, utcnow
from domain.passwords import hash_password, verify_password
from domain.settings import Settings



@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against for unknown user names, so they take as long as known ones."""
    return hash_password("not-a-real-password-0")


class Outcome:
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    INACTIVE = "inactive"


@dataclass
class LoginResult:
    outcome: str
    account: Optional[Account] = None


def _failures_since(session: Session, username: str, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(False), LoginAttempt.created_at > since)) or 0


def _last_success(session: Session, username: str) -> Optional[datetime]:
    return session.scalar(select(func.max(LoginAttempt.created_at)).where(
        LoginAttempt.username == username, LoginAttempt.succeeded.is_(True)))


def _counting_since(session: Session, settings: Settings, username: str, account: Optional[Account],
                    now: datetime) -> datetime:
    since = now - timedelta(minutes=settings.lockout_window_minutes)
    for moment in (_last_success(session, username), account.locked_until if account else None):
        if moment is not None and moment > since:
            since = moment
    return since


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
    since = _counting_since(session, settings, username, account, now)
    if account is None and _failures_since(session, username, since) >= settings.lockout_threshold:
        verify_password(_dummy_hash(), password)
        note(False, "auth.login_locked")
        return LoginResult(Outcome.LOCKED)

    good = verify_password(account.password_hash if account else _dummy_hash(), password)
    if good and account is not None:
        if not account.is_active:
            note(False, "auth.login_inactive")
            return LoginResult(Outcome.INACTIVE)
        note(True, "auth.login_success")
        account.last_login_at = now
        account.locked_until = None
        return LoginResult(Outcome.OK, account)

    note(False, "auth.login_failure")
    session.flush()
    if _failures_since(session, username, since) >= settings.lockout_threshold:
        if account is not None:
            account.locked_until = now + timedelta(minutes=settings.lockout_window_minutes)
            audit.record(session, actor_id=account.id, actor_name=username, action="auth.lockout",
                         target_type="account", target_id=account.id, remote_addr=remote_addr,
                         detail={"until": account.locked_until.isoformat()})
        return LoginResult(Outcome.LOCKED)
    return LoginResult(Outcome.BAD_CREDENTIALS)
