"""The wage file (代发工资文件) and the bank statement: codec, envelope and signatures.

docs/bank-protocol.md is the specification; this module is its reference implementation.

- Plaintext: UTF-8 JSON Lines, a header object then one object per line (`encode_wage_file`).
- Envelope: the plaintext encrypted with a random content key (SM4-GCM, or AES-256-GCM), the
  content key wrapped for the bank's X25519 key (ephemeral ECDH + HKDF-SHA256), the whole signed
  with the platform's Ed25519 key (`seal_wage_file` / `open_wage_file`).
- Statement: the bank's answer per line, signed with the bank's Ed25519 key
  (`sign_statement` / `verify_statement`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.errors import CodedError
from domain.processes.wage_run import LineFailure

from .signing import (b64decode, b64encode, canonical_json, public_hex, sign_document, verify_document,
                      x25519_public_from_hex)

FORMAT = "shiming-wage/1"
ENVELOPE_VERSION = 1
STATEMENT_VERSION = 1
ALG_SM4 = "X25519-HKDF-SHA256+SM4-GCM"
ALG_AES = "X25519-HKDF-SHA256+AES-256-GCM"
WAGE_FILE_DOMAIN = b"SHIMING-WAGE-FILE-V1\n"
STATEMENT_DOMAIN = b"SHIMING-STATEMENT-V1\n"
HKDF_INFO = b"shiming wage-file v1 key-wrap "  # + the alg string
CEK_AAD = b"shiming wage-file v1 cek|"  # + batch id
CONTENT_AAD = b"shiming wage-file v1 content|"  # + batch id

BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
ACCOUNT_RE = re.compile(r"^[0-9A-Za-z-]{1,40}$")
CARD_RE = re.compile(r"^[0-9]{8,32}$")
ID_NUMBER_RE = re.compile(r"^[0-9A-Za-z]{1,32}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f]")
MAX_AMOUNT_FEN = 10**12  # 100 亿元 per line: far above any wage, far below 2**53
MAX_LINES = 100_000

# statement line failure codes: the platform's vocabulary (domain/processes/wage_run.py)
CARD_CLOSED = LineFailure.CARD_CLOSED.value
CARD_UNKNOWN = LineFailure.CARD_UNKNOWN.value
NAME_MISMATCH = LineFailure.NAME_MISMATCH.value
FAILURE_CODES = tuple(code.value for code in LineFailure)
PAID = "paid"
FAILED = "failed"


class WageFileError(CodedError, ValueError):
    """A refused wage file or envelope; `code` is one of the codes in docs/bank-protocol.md."""


class StatementError(CodedError, ValueError):
    """A refused statement: `code` is "bad_signature" or "malformed"."""


@dataclass(frozen=True)
class WageFileHeader:
    batch_id: str
    payer_account: str
    payer_name: str
    project_code: str
    month: str  # YYYY-MM
    line_count: int
    total_fen: int


@dataclass(frozen=True)
class WageFileLine:
    seq: int
    worker_name: str
    id_number: str
    card_number: str
    bank_name: str
    amount_fen: int
    remark: str = ""


HEADER_FIELDS = ("batch_id", "payer_account", "payer_name", "project_code", "month", "line_count", "total_fen")
LINE_FIELDS = ("seq", "worker_name", "id_number", "card_number", "bank_name", "amount_fen", "remark")


# --- plaintext -------------------------------------------------------------------------------------


def encode_wage_file(header: WageFileHeader, lines: list[WageFileLine]) -> bytes:
    """The canonical plaintext; refuses what `decode_wage_file` would refuse."""
    _check(header, lines)
    out = [{"type": "header", "format": FORMAT, **{name: getattr(header, name) for name in HEADER_FIELDS}}]
    out += [{"type": "line", **{name: getattr(line, name) for name in LINE_FIELDS}} for line in lines]
    return b"".join(canonical_json(obj) + b"\n" for obj in out)


def decode_wage_file(data: bytes) -> tuple[WageFileHeader, list[WageFileLine]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise WageFileError("MALFORMED", "not UTF-8") from None
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    if not rows:
        raise WageFileError("MALFORMED", "empty file")
    if len(rows) > MAX_LINES + 1:
        raise WageFileError("MALFORMED", "too many lines")
    objects = []
    for number, row in enumerate(rows, start=1):
        try:
            obj = json.loads(row)
        except ValueError:
            raise WageFileError("MALFORMED", f"row {number} is not JSON") from None
        if not isinstance(obj, dict):
            raise WageFileError("MALFORMED", f"row {number} is not an object")
        objects.append(obj)
    first = objects[0]
    if first.get("type") != "header":
        raise WageFileError("MALFORMED", "the first row must be the header")
    if first.get("format") != FORMAT:
        raise WageFileError("UNSUPPORTED_FORMAT", f"format {first.get('format')!r}")
    header = WageFileHeader(**_fields(first, HEADER_FIELDS, {"type", "format"}, 1))
    lines = []
    for number, obj in enumerate(objects[1:], start=2):
        if obj.get("type") != "line":
            raise WageFileError("MALFORMED", f"row {number} is not a line")
        lines.append(WageFileLine(**_fields(obj, LINE_FIELDS, {"type"}, number)))
    _check(header, lines)
    return header, lines


def _fields(obj: dict, names: tuple[str, ...], extra: set[str], number: int) -> dict:
    keys = set(obj)
    if keys != set(names) | extra:
        missing, unknown = set(names) - keys, keys - set(names) - extra
        raise WageFileError("MALFORMED", f"row {number}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return {name: obj[name] for name in names}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, name: str, where: str, max_len: int, pattern: re.Pattern | None = None,
          required: bool = True) -> None:
    if not isinstance(value, str) or len(value) > max_len or (required and not value.strip()):
        raise WageFileError("BAD_FIELD", f"{where}: {name}")
    if _CONTROL_RE.search(value):
        raise WageFileError("BAD_FIELD", f"{where}: {name} holds a control character")
    if pattern is not None and not pattern.match(value):
        raise WageFileError("BAD_FIELD", f"{where}: {name}")


def _check(header: WageFileHeader, lines: list[WageFileLine]) -> None:
    if not isinstance(header.batch_id, str) or not BATCH_ID_RE.match(header.batch_id):
        raise WageFileError("BAD_BATCH_ID", "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    _text(header.payer_account, "payer_account", "header", 40, ACCOUNT_RE)
    _text(header.payer_name, "payer_name", "header", 200)
    _text(header.project_code, "project_code", "header", 64)
    _text(header.month, "month", "header", 7, MONTH_RE)
    if not _is_int(header.line_count) or not _is_int(header.total_fen):
        raise WageFileError("BAD_FIELD", "header: line_count and total_fen are integers")
    if not lines:
        raise WageFileError("EMPTY_BATCH", "a wage file has at least one line")
    for index, line in enumerate(lines, start=1):
        where = f"line {index}"
        if not _is_int(line.seq) or line.seq != index:
            raise WageFileError("BAD_SEQUENCE", f"{where}: seq must be {index}")
        _text(line.worker_name, "worker_name", where, 100)
        _text(line.id_number, "id_number", where, 32, ID_NUMBER_RE)
        _text(line.card_number, "card_number", where, 32, CARD_RE)
        _text(line.bank_name, "bank_name", where, 100)
        _text(line.remark, "remark", where, 200, required=False)
        if not _is_int(line.amount_fen) or not 0 < line.amount_fen <= MAX_AMOUNT_FEN:
            raise WageFileError("BAD_AMOUNT", f"{where}: amount_fen must be a positive integer")
    if header.line_count != len(lines):
        raise WageFileError("LINE_COUNT_MISMATCH", f"header says {header.line_count}, file has {len(lines)}")
    total = sum(line.amount_fen for line in lines)
    if header.total_fen != total:
        raise WageFileError("TOTAL_MISMATCH", f"header says {header.total_fen}, lines sum to {total}")


# --- envelope --------------------------------------------------------------------------------------


def sm4_gcm_available() -> bool:
    try:
        _gcm_encrypt(ALG_SM4, bytes(16), bytes(12), b"", b"")
        return True
    except Exception:  # noqa: BLE001 - OpenSSL built without SM4
        return False


_KEY_LEN = {ALG_SM4: 16, ALG_AES: 32}
SUPPORTED_ALGS = tuple(_KEY_LEN)


def _gcm_encrypt(alg: str, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if alg == ALG_AES:
        return AESGCM(key).encrypt(nonce, data, aad)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(data) + encryptor.finalize() + encryptor.tag


def _gcm_decrypt(alg: str, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Raises InvalidTag when the data or the key is wrong."""
    if alg == ALG_AES:
        return AESGCM(key).decrypt(nonce, data, aad)
    if len(data) < 16:
        raise InvalidTag()
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, data[-16:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(data[:-16]) + decryptor.finalize()


def _kek(alg: str, shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN[alg], salt=ephemeral_public + recipient_public,
                info=HKDF_INFO + alg.encode("ascii")).derive(shared)


DEFAULT_ALG = ALG_SM4 if sm4_gcm_available() else ALG_AES


def seal_wage_file(plaintext: bytes, *, batch_id: str, platform_signing_key: Ed25519PrivateKey,
                   bank_public_key: X25519PublicKey, alg: str = DEFAULT_ALG) -> bytes:
    """Encrypt `plaintext` for the bank and sign the result; returns the envelope (canonical JSON)."""
    if not isinstance(batch_id, str) or not BATCH_ID_RE.match(batch_id):
        raise WageFileError("BAD_BATCH_ID", repr(batch_id))
    if alg not in _KEY_LEN:
        raise WageFileError("UNSUPPORTED_ALG", alg)
    batch = batch_id.encode("ascii")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = bytes.fromhex(public_hex(ephemeral.public_key()))
    recipient = bytes.fromhex(public_hex(bank_public_key))
    kek = _kek(alg, ephemeral.exchange(bank_public_key), ephemeral_public, recipient)
    cek = os.urandom(_KEY_LEN[alg])
    key_nonce, nonce = os.urandom(12), os.urandom(12)
    envelope = {
        "version": ENVELOPE_VERSION,
        "batch_id": batch_id,
        "alg": alg,
        "recipient": recipient.hex(),
        "ephemeral_public_key": ephemeral_public.hex(),
        "key_nonce": b64encode(key_nonce),
        "wrapped_key": b64encode(_gcm_encrypt(alg, kek, key_nonce, cek, CEK_AAD + batch)),
        "nonce": b64encode(nonce),
        "ciphertext": b64encode(_gcm_encrypt(alg, cek, nonce, plaintext, CONTENT_AAD + batch)),
        "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
    }
    return canonical_json(sign_document(envelope, platform_signing_key, WAGE_FILE_DOMAIN))


ENVELOPE_FIELDS = {"version", "batch_id", "alg", "recipient", "ephemeral_public_key", "key_nonce", "wrapped_key",
                   "nonce", "ciphertext", "plaintext_sha256", "signer", "signature"}


def parse_envelope(envelope: bytes) -> dict:
    """The envelope's JSON object, its shape checked (nothing verified yet)."""
    try:
        obj = json.loads(envelope)
    except (ValueError, UnicodeDecodeError):
        raise WageFileError("BAD_ENVELOPE", "not JSON") from None
    if not isinstance(obj, dict) or set(obj) != ENVELOPE_FIELDS:
        raise WageFileError("BAD_ENVELOPE", "wrong set of fields")
    if obj["version"] != ENVELOPE_VERSION or isinstance(obj["version"], bool):
        raise WageFileError("BAD_ENVELOPE", f"version {obj['version']!r}")
    if any(not isinstance(obj[name], str) for name in ENVELOPE_FIELDS - {"version"}):
        raise WageFileError("BAD_ENVELOPE", "fields other than version are strings")
    if not BATCH_ID_RE.match(obj["batch_id"]):
        raise WageFileError("BAD_BATCH_ID", repr(obj["batch_id"]))
    return obj


def open_envelope(envelope: bytes, *, bank_private_key: X25519PrivateKey,
                  platform_public_key: Ed25519PublicKey) -> tuple[str, bytes]:
    """Verify the signature, then decrypt: `(batch_id, plaintext)`. Raises WageFileError."""
    obj = parse_envelope(envelope)
    if not verify_document(obj, platform_public_key, WAGE_FILE_DOMAIN):
        raise WageFileError("BAD_SIGNATURE", "the platform's signature does not verify")
    alg = obj["alg"]
    if alg not in _KEY_LEN:
        raise WageFileError("UNSUPPORTED_ALG", alg)
    recipient = bytes.fromhex(public_hex(bank_private_key.public_key()))
    if obj["recipient"] != recipient.hex():
        raise WageFileError("DECRYPT_FAILED", "sealed for another key")
    batch = obj["batch_id"].encode("ascii")
    try:
        ephemeral = x25519_public_from_hex(obj["ephemeral_public_key"])
        kek = _kek(alg, bank_private_key.exchange(ephemeral), bytes.fromhex(obj["ephemeral_public_key"]), recipient)
        cek = _gcm_decrypt(alg, kek, b64decode(obj["key_nonce"]), b64decode(obj["wrapped_key"]), CEK_AAD + batch)
        plaintext = _gcm_decrypt(alg, cek, b64decode(obj["nonce"]), b64decode(obj["ciphertext"]),
                                 CONTENT_AAD + batch)
    except (ValueError, InvalidTag):
        raise WageFileError("DECRYPT_FAILED", "the content does not decrypt") from None
    if hashlib.sha256(plaintext).hexdigest() != obj["plaintext_sha256"]:
        raise WageFileError("HASH_MISMATCH", "plaintext_sha256 does not match the content")
    return obj["batch_id"], plaintext


def open_wage_file(envelope: bytes, *, bank_private_key: X25519PrivateKey,
                   platform_public_key: Ed25519PublicKey) -> tuple[WageFileHeader, list[WageFileLine], str]:
    """Verify, decrypt and decode an envelope: `(header, lines, plaintext_sha256)`."""
    batch_id, plaintext = open_envelope(envelope, bank_private_key=bank_private_key,
                                        platform_public_key=platform_public_key)
    header, lines = decode_wage_file(plaintext)
    if header.batch_id != batch_id:
        raise WageFileError("BATCH_ID_MISMATCH", f"envelope {batch_id}, header {header.batch_id}")
    return header, lines, hashlib.sha256(plaintext).hexdigest()


# --- statement -------------------------------------------------------------------------------------


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
    from .keys import trusted_signing_keys

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
        if not _is_int(line.seq) or line.seq < 1 or line.seq in seen:
            raise StatementError("malformed", f"line seq {line.seq!r}")
        seen.add(line.seq)
        if not _is_int(line.amount_fen) or not 0 < line.amount_fen <= MAX_AMOUNT_FEN:
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
