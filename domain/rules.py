"""Pure validation rules for identifiers entered by people."""
from __future__ import annotations

import re

# GB 32100-2015 unified social credit code: 18 characters from this alphabet
# (no I, O, Z, S, V); the last one is a check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_credit_code(code: str) -> str:
    return (code or "").strip().upper()


def credit_code_check_char(first17: str) -> str:
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    code = normalize_credit_code(code)
    if len(code) != 18 or any(c not in _CREDIT_ALPHABET for c in code):
        return False
    return credit_code_check_char(code[:17]) == code[17]


def normalize_mobile(phone: str) -> str:
    phone = re.sub(r"[\s-]", "", phone or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    return phone


def is_valid_mobile(phone: str) -> bool:
    """A mainland China mobile number: 11 digits starting 13–19."""
    return bool(_MOBILE_RE.match(normalize_mobile(phone)))


def mask_phone(phone: str) -> str:
    """First 3 + last 4 digits, the rest starred."""
    p = normalize_mobile(phone)
    if len(p) < 8:
        return "*" * len(p)
    return p[:3] + "*" * (len(p) - 7) + p[-4:]
