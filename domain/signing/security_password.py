"""The security password: unlocking the signing key, counting wrong attempts, setting and changing it.

Failed attempts are counted in their own short transaction, committed before the error is raised,
so a caller's rollback can never lose the count. Every set or change makes a new key pair and
retires the old one (public half kept, sealed private half destroyed).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional, Union

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import audit
from ..errors import CodedError
from ..models import Account, SecurityPasswordState, SigningKey, utcnow
from ..passwords import policy_problems, verify_password
from .keys import DESTROYED_SEAL, UnlockedKey, current_key, public_key_hex, seal_private_key, unseal_private_key

MAX_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=30)

SessionFactory = Union[sessionmaker, Session]


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


def actor_name(account: Optional[Account]) -> str:
    """The name an audit row gives the account."""
    return (account.display_name or account.username) if account is not None else ""


# ---- unlocking -----------------------------------------------------------------------------------


def _factory(session_or_factory: SessionFactory) -> sessionmaker:
    if isinstance(session_or_factory, Session):
        return sessionmaker(bind=session_or_factory.get_bind(), expire_on_commit=False)
    return session_or_factory


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
    name = actor_name(session.get(Account, account_id))
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


# ---- setting and changing ------------------------------------------------------------------------


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
    _refuse_weak(new_password, login_password_hash)
    unlocked = None
    if current_password is not None:  # first, before this session writes or locks anything
        unlocked = unlock(session, account_id, current_password, remote_addr=remote_addr)
    private_key = Ed25519PrivateKey.generate()
    sealed = seal_private_key(private_key, new_password, account_id)  # scrypt before taking any lock

    account = session.scalar(select(Account).where(Account.id == account_id).with_for_update())
    if account is None:
        raise ValueError(f"no account {account_id}")
    previous = _key_to_replace(session, account_id, unlocked)
    new_key = _replace_key(session, account_id, previous, public_key_hex(private_key), sealed)
    _audit_key_change(session, account, new_key, previous, remote_addr)
    return new_key


def _refuse_weak(new_password: str, login_password_hash: Optional[str]) -> None:
    problems = security_password_problems(new_password, login_password_hash)
    if "same_as_login" in problems:
        raise SecurityPasswordError("same_as_login", problems=tuple(problems))
    if problems:
        raise SecurityPasswordError("weak", problems=tuple(problems))


def _key_to_replace(session: Session, account_id: int, unlocked: Optional[UnlockedKey]) -> Optional[SigningKey]:
    """The key a set (none yet) or a change (the one just unlocked) replaces; else refused."""
    previous = current_key(session, account_id)
    if unlocked is None and previous is not None:
        raise SecurityPasswordError("already_set")
    if unlocked is not None and (previous is None or previous.id != unlocked.key_id):
        raise SecurityPasswordError("wrong")  # changed meanwhile by another request
    return previous


def _replace_key(session: Session, account_id: int, previous: Optional[SigningKey], public_hex: str,
                 sealed: str) -> SigningKey:
    """Retire `previous`, add the new key and clear the attempt counter; refuses a lost race."""
    now = utcnow()
    if previous is not None:
        previous.retired_at = now
        previous.sealed_private_key = DESTROYED_SEAL
    new_key = SigningKey(account_id=account_id, public_key=public_hex, sealed_private_key=sealed, created_at=now)
    session.add(new_key)
    state = _locked_state(session, account_id)
    state.failed_count, state.locked_until, state.changed_at = 0, None, now
    session.flush()
    live = session.scalar(select(func.count()).select_from(SigningKey)
                          .where(SigningKey.account_id == account_id, SigningKey.retired_at.is_(None)))
    if live != 1:  # a concurrent first-time set won the race (SQLite has no row locks)
        raise SecurityPasswordError("already_set")
    return new_key


def _audit_key_change(session: Session, account: Account, new_key: SigningKey, previous: Optional[SigningKey],
                      remote_addr: Optional[str]) -> None:
    detail: dict[str, Any] = {"key_id": new_key.id, "public_key": new_key.public_key}
    if previous is not None:
        detail.update(retired_key_id=previous.id, retired_public_key=previous.public_key)
    audit.record(session, actor_id=account.id, actor_name=actor_name(account),
                 action="security_password.change" if previous is not None else "security_password.set",
                 target_type="account", target_id=account.id, remote_addr=remote_addr, detail=detail)
