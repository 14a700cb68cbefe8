"""Password hashing (argon2id via argon2-cffi), setting a password and ending sessions (ACC-5).

The policy itself is `domain.password_policy` (re-exported here: `policy_problems`, `MIN_LENGTH`).
"""
from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .models import Account, utcnow
from .password_policy import MIN_LENGTH, PasswordPolicyError, check_password, policy_problems

__all__ = ["MIN_LENGTH", "PasswordPolicyError", "change_password", "check_password", "end_sessions",
           "hash_password", "policy_problems", "random_initial_password", "verify_password"]

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 30 ms here, so
# a login or an approval does not spend half a second of a 2-core machine on hashing.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def end_sessions(account: Account) -> None:
    """Every session of `account` ends on its next request (logout, disabling, password change)."""
    account.session_epoch = (account.session_epoch or 0) + 1


def change_password(account: Account, new_password: str, *, must_change: bool = False) -> None:
    """Set a new login password after checking the policy for the account's role (PasswordPolicyError).

    Ends the account's other sessions; a web caller keeps its own by storing the new epoch.
    """
    check_password(new_password, account.role, account.username)
    account.password_hash = hash_password(new_password)
    account.must_change_password = must_change
    account.password_changed_at = utcnow()
    end_sessions(account)


def random_initial_password(length: int = 12) -> str:
    """Random password meeting the policy; delivered once through the outbox."""
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if not policy_problems(pw):
            return pw
