"""The reference bank's ledger: the accounts and cards its administrator loads (a test double's
ledger, card numbers in the clear as a bank's own are), the platform keys it trusts, and the
checks of an account or a card the platform asks for."""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from sqlalchemy.orm import Session

from ..protocol import CLOSED, NAME_MISMATCH, NOT_FOUND, NOT_WAGE_ACCOUNT, AccountCheckResult
from ..signing import ed25519_public_from_hex, public_hex
from ..wagefile import ACCOUNT_RE, CARD_RE
from .models import Card, LedgerAccount


def same_name(a: str, b: str) -> bool:
    """Names compare after Unicode NFC normalisation and trimming; nothing else is forgiven."""
    return unicodedata.normalize("NFC", a).strip() == unicodedata.normalize("NFC", b).strip()


def check_card(session: Session, number: str, holder_name: str) -> AccountCheckResult:
    """A personal card: exists, the holder's name, open. Whether it is a wage account is not asked."""
    card = session.get(Card, number)
    if card is None:
        return AccountCheckResult(False, NOT_FOUND, "no card with this number")
    if not same_name(card.holder_name, holder_name):
        return AccountCheckResult(False, NAME_MISMATCH, "the card holder's name does not match")
    if card.status != "open":
        return AccountCheckResult(False, CLOSED, "the card is closed")
    return AccountCheckResult(True)


def check_account(session: Session, number: str, name: str) -> AccountCheckResult:
    """A wage special account: exists, its name, open, and of the wage kind."""
    account = session.get(LedgerAccount, number)
    if account is None:
        return AccountCheckResult(False, NOT_FOUND, "no account with this number")
    if not same_name(account.name, name):
        return AccountCheckResult(False, NAME_MISMATCH, "the account name does not match")
    if account.status != "open":
        return AccountCheckResult(False, CLOSED, "the account is closed")
    if account.kind != "wage":
        return AccountCheckResult(False, NOT_WAGE_ACCOUNT, "not a wage special account")
    return AccountCheckResult(True)


def account_rows(items) -> list[dict]:
    """Ledger accounts from the administrator's JSON list, each checked; ValueError otherwise."""
    return [_ledger_row(item, ("number", "name"), {"kind": ("wage", "ordinary"), "status": ("open", "closed")},
                        ACCOUNT_RE) for item in _as_list(items)]


def card_rows(items) -> list[dict]:
    """Cards from the administrator's JSON list, each checked; ValueError otherwise."""
    return [_ledger_row(item, ("number", "holder_name"), {"status": ("open", "closed")}, CARD_RE)
            for item in _as_list(items)]


def platform_keys(items) -> list[tuple[str, str]]:
    """(signing key hex, label) of each platform key in the administrator's JSON list."""
    keys = []
    for item in _as_list(items):
        text, label = (item.get("signing"), item.get("label", "")) if isinstance(item, dict) else (item, "")
        if not isinstance(text, str) or not isinstance(label, str):
            raise ValueError("a platform key is a hex string or {\"signing\": hex, \"label\": …}")
        keys.append((parse_platform_key(text), label[:100]))
    return keys


def parse_platform_key(text: str) -> str:
    """A platform signing key given as 64 hex digits, or a file holding hex, `{"signing": hex}` or a PEM."""
    text = text.strip()
    candidate = text
    path = Path(text)
    if len(text) != 64 and path.exists():
        data = path.read_bytes()
        if b"BEGIN PUBLIC KEY" in data:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            return public_hex(load_pem_public_key(data))
        candidate = data.decode("utf-8").strip()
        if candidate.startswith("{"):
            candidate = json.loads(candidate).get("signing", "")
    ed25519_public_from_hex(candidate)  # raises ValueError if it is not a key
    return candidate.lower()


def _as_list(items) -> list:
    if not isinstance(items, list):
        raise ValueError("expected a JSON list")
    return items


def _ledger_row(item, required: tuple[str, ...], choices: dict[str, tuple[str, ...]], number_re: re.Pattern) -> dict:
    if not isinstance(item, dict):
        raise ValueError("each entry is a JSON object")
    row = {}
    for name in required:
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} is required")
        row[name] = value.strip()
    if not number_re.match(row["number"]):
        raise ValueError(f"bad number {row['number']!r}")
    for name, allowed in choices.items():
        value = item.get(name, allowed[0])
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        row[name] = value
    unknown = set(item) - set(required) - set(choices)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    return row
