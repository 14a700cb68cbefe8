"""Password hashing (argon2id via argon2-cffi) and the password policy (ACC-5)."""
from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 30 ms here, so
# a login or an approval does not spend half a second of a 2-core machine on hashing.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def policy_problems(password: str) -> list[str]:
    """Codes of the rules a new password breaks (empty when acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append("too_short")
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        problems.append("letters_and_digits")
    return problems


def random_initial_password(length: int = 12) -> str:
    """Random password meeting the policy; delivered once through the outbox."""
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if not policy_problems(pw):
            return pw
