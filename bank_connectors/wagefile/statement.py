"""The bank statement (docs/bank-protocol.md, "Statement"): the bank's answer per line of a batch,
signed with the bank's Ed25519 key; parsed from untrusted bytes without any exception but
StatementError."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.errors import CodedError
from domain.processes.wage_run import LineFailure

from ..signing import canonical_json, public_hex, sign_document, verify_document
from .plaintext import BATCH_ID_RE, MAX_AMOUNT_FEN, is_int

STATEMENT_VERSION = 1
STATEMENT_DOMAIN = b"SHIMING-STATEMENT-V1\n"

# statement line failure codes: the platform's vocabulary (domain/processes/wage_run.py)
CARD_CLOSED = LineFailure.CARD_CLOSED.value
CARD_UNKNOWN = LineFailure.CARD_UNKNOWN.value
NAME_MISMATCH = LineFailure.NAME_MISMATCH.value
FAILURE_CODES = tuple(code.value for code in LineFailure)
PAID = "paid"
FAILED = "failed"


class StatementError(CodedError, ValueError):
    """A refused statement: `code` is "bad_signature" or "malformed"."""


@dataclass(frozen=True)
class StatementLine:
    seq: int
    status: str  # "paid" | "failed"
    amount_fen: int
    code: str = ""  # failed only: CARD_CLOSED | CARD_UNKNOWN | NAME_MISMATCH
    reason: str = ""
    paid_at: str = ""  # paid only: ISO 8601 UTC, e.g. 2025-03-31T08:00:00Z


@dataclass(frozen=True)
class Statement:
    statement_id: str
    batch_id: str
    lines: list[StatementLine] = field(default_factory=list)
    issued_at: str = ""

    @property
    def paid_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines if line.status == PAID)

    @property
    def failed_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines if line.status == FAILED)


STATEMENT_LINE_FIELDS = ("seq", "status", "amount_fen", "code", "reason", "paid_at")
STATEMENT_FIELDS = {"version", "type", "statement_id", "batch_id", "issued_at", "line_count", "paid_count",
                    "paid_fen", "failed_count", "failed_fen", "lines", "signer", "signature"}


def _statement_totals(stmt: Statement) -> dict:
    paid = [line for line in stmt.lines if line.status == PAID]
    return {
        "line_count": len(stmt.lines),
        "paid_count": len(paid),
        "paid_fen": stmt.paid_fen,
        "failed_count": len(stmt.lines) - len(paid),
        "failed_fen": stmt.failed_fen,
    }


def _statement_document(stmt: Statement) -> dict:
    return {
        "version": STATEMENT_VERSION,
        "type": "statement",
        "statement_id": stmt.statement_id,
        "batch_id": stmt.batch_id,
        "issued_at": stmt.issued_at,
        **_statement_totals(stmt),
        "lines": [{name: getattr(line, name) for name in STATEMENT_LINE_FIELDS} for line in stmt.lines],
    }


def sign_statement(stmt: Statement, bank_signing_key: Ed25519PrivateKey) -> bytes:
    """The statement as signed canonical JSON, ready to POST or to drop in the exchange folder."""
    _check_statement(stmt)
    return canonical_json(sign_document(_statement_document(stmt), bank_signing_key, STATEMENT_DOMAIN))


def _too_deep(body: bytes, limit: int = 64) -> bool:
    """True when the JSON nests more than `limit` levels (checked before parsing: json.loads recurses)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def parse_json_document(body: bytes) -> dict:
    """A JSON object from untrusted bytes, or StatementError("malformed"): never another exception.

    Refused: not UTF-8, not JSON, deeper than a few levels, numbers that are not plain integers
    (floats, NaN, Infinity, integers of more than 20 digits), and anything but an object on top.
    """
    if not isinstance(body, (bytes, bytearray)):
        raise StatementError("malformed", "not bytes")
    if _too_deep(bytes(body)):
        raise StatementError("malformed", "nested too deeply")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise StatementError("malformed", "not UTF-8") from None

    def no_float(value):
        raise ValueError("not an integer")

    def small_int(value: str):
        if len(value.lstrip("-")) > 20:
            raise ValueError("integer too large")
        return int(value)

    try:
        obj = json.loads(text, parse_float=no_float, parse_int=small_int, parse_constant=no_float)
    except (ValueError, RecursionError):
        raise StatementError("malformed", "not JSON") from None
    if not isinstance(obj, dict):
        raise StatementError("malformed", "not a JSON object")
    return obj


def statement_signer(body: bytes) -> str:
    """The `signer` a statement names (unverified), or "" — for audit rows about refused statements."""
    try:
        signer = parse_json_document(body).get("signer")
    except StatementError:
        return ""
    return signer if isinstance(signer, str) and len(signer) == 64 else ""


def verify_statement(body: bytes, bank_public_key) -> Statement:
    """Check the bank's signature first, then the content. Raises StatementError, nothing else.

    `bank_public_key` is the trusted Ed25519 key, a list of them, or pinned bank keys
    (keys.PinnedBankKeys): a statement signed by any of them verifies (key rotation overlap).
    """
    from ..keys import trusted_signing_keys

    obj = parse_json_document(body)
    if not isinstance(obj.get("signature"), str) or not isinstance(obj.get("signer"), str):
        raise StatementError("malformed", "not a signed statement")
    trusted = [key for key in trusted_signing_keys(bank_public_key) if public_hex(key) == obj["signer"]]
    if not trusted:
        raise StatementError("bad_signature", "signed by a key that is not pinned for the bank")
    if not verify_document(obj, trusted[0], STATEMENT_DOMAIN):
        raise StatementError("bad_signature", "the bank's signature does not verify")
    if set(obj) != STATEMENT_FIELDS or obj["type"] != "statement" or obj["version"] != STATEMENT_VERSION:
        raise StatementError("malformed", "wrong set of fields or version")
    try:
        if not isinstance(obj["lines"], list):
            raise StatementError("malformed", "lines is not a list")
        lines = []
        for item in obj["lines"]:
            if not isinstance(item, dict) or set(item) != set(STATEMENT_LINE_FIELDS):
                raise StatementError("malformed", "a line has the wrong fields")
            lines.append(StatementLine(**item))
        stmt = Statement(statement_id=obj["statement_id"], batch_id=obj["batch_id"], lines=lines,
                         issued_at=obj["issued_at"])
        _check_statement(stmt)
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, StatementError):
            raise
        raise StatementError("malformed", str(exc)[:200]) from None
    expected = _statement_totals(stmt)
    if any(obj[name] != value for name, value in expected.items()):
        raise StatementError("malformed", "the totals do not match the lines")
    return stmt


def _check_statement(stmt: Statement) -> None:
    for name in ("statement_id", "batch_id"):
        value = getattr(stmt, name)
        if not isinstance(value, str) or not BATCH_ID_RE.match(value):
            raise StatementError("malformed", name)
    if not isinstance(stmt.issued_at, str) or not stmt.issued_at:
        raise StatementError("malformed", "issued_at")
    if not isinstance(stmt.lines, list) or not stmt.lines:
        raise StatementError("malformed", "a statement has at least one line")
    seen = set()
    for line in stmt.lines:
        if not is_int(line.seq) or line.seq < 1 or line.seq in seen:
            raise StatementError("malformed", f"line seq {line.seq!r}")
        seen.add(line.seq)
        if not is_int(line.amount_fen) or not 0 < line.amount_fen <= MAX_AMOUNT_FEN:
            raise StatementError("malformed", f"line {line.seq}: amount_fen")
        if not all(isinstance(getattr(line, name), str) for name in ("status", "code", "reason", "paid_at")):
            raise StatementError("malformed", f"line {line.seq}: text fields")
        if line.status == PAID:
            if line.code or not line.paid_at:
                raise StatementError("malformed", f"line {line.seq}: a paid line has paid_at and no code")
        elif line.status == FAILED:
            if not line.code or line.paid_at:
                raise StatementError("malformed", f"line {line.seq}: a failed line has a code and no paid_at")
        else:
            raise StatementError("malformed", f"line {line.seq}: status {line.status!r}")
