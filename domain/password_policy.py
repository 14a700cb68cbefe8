"""The login-password policy (ACC-5); docs/security.md explains the rules.

- at least `MIN_LENGTH` (8) characters;
- not one of the common passwords in `common_passwords.txt` (compared lowercased and stripped,
  as Django's CommonPasswordValidator does with the same list), nor the user name itself;
- staff accounts (every role except a worker's) need letters and digits: the MLPS 2.0 level-3
  assessment (GB/T 22239-2019, 8.1.4.1 a) asks for "complexity requirements" on the passwords of
  those who administer or operate the system, and assessors check for at least two kinds of
  characters. Workers only look at their own wage records and often sign in on a phone keypad,
  so length and the common list are their rules.

`policy_problems` returns codes; the web layer turns them into translated messages.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

MIN_LENGTH = 8
MAX_LENGTH = 200  # the forms' limit; argon2 hashes any length, but a megabyte of password is an attack

COMMON_LIST = Path(__file__).with_name("common_passwords.txt")
NON_STAFF_ROLES = frozenset({"worker"})  # roles whose passwords need no letter+digit mix

TOO_SHORT = "too_short"
TOO_LONG = "too_long"
TOO_COMMON = "too_common"
SAME_AS_USERNAME = "same_as_username"
LETTERS_AND_DIGITS = "letters_and_digits"


class PasswordPolicyError(ValueError):
    """A new password that breaks the policy; `problems` holds the codes."""

    def __init__(self, problems: list[str]):
        super().__init__(", ".join(problems))
        self.problems = problems


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list (comment lines start with '# ')."""
    with COMMON_LIST.open(encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip() and not line.startswith("# "))


def is_staff(role: Optional[str]) -> bool:
    """Staff: every role but a worker's. No role given counts as staff (the stricter rules)."""
    return role not in NON_STAFF_ROLES


def is_common(password: str) -> bool:
    return password.strip().lower() in common_passwords()


def policy_problems(password: str, role: Optional[str] = None, username: str = "") -> list[str]:
    """Codes of the rules a new password breaks (empty when acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(TOO_SHORT)
    if len(password) > MAX_LENGTH:
        problems.append(TOO_LONG)
    if is_common(password):
        problems.append(TOO_COMMON)
    if username and password.strip().lower() == username.strip().lower():
        problems.append(SAME_AS_USERNAME)
    if is_staff(role) and (not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password)):
        problems.append(LETTERS_AND_DIGITS)
    return problems


def check_password(password: str, role: Optional[str] = None, username: str = "") -> None:
    """Raise PasswordPolicyError when `password` breaks the policy for an account of `role`."""
    problems = policy_problems(password, role, username)
    if problems:
        raise PasswordPolicyError(problems)
