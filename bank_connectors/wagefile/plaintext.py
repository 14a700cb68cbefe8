"""The wage file's plaintext (docs/bank-protocol.md, "Plaintext"): UTF-8 JSON Lines, a header
object then one object per line, every field checked on the way in and out."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from domain.errors import CodedError

from ..signing import canonical_json

FORMAT = "shiming-wage/1"
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
ACCOUNT_RE = re.compile(r"^[0-9A-Za-z-]{1,40}$")
CARD_RE = re.compile(r"^[0-9]{8,32}$")
ID_NUMBER_RE = re.compile(r"^[0-9A-Za-z]{1,32}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f]")
MAX_AMOUNT_FEN = 10**12  # 100 亿元 per line: far above any wage, far below 2**53
MAX_LINES = 100_000


class WageFileError(CodedError, ValueError):
    """A refused wage file or envelope; `code` is one of the codes in docs/bank-protocol.md."""


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


def is_int(value) -> bool:
    """An integer that is not a bool (JSON true is not 1 here)."""
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
    if not is_int(header.line_count) or not is_int(header.total_fen):
        raise WageFileError("BAD_FIELD", "header: line_count and total_fen are integers")
    if not lines:
        raise WageFileError("EMPTY_BATCH", "a wage file has at least one line")
    for index, line in enumerate(lines, start=1):
        where = f"line {index}"
        if not is_int(line.seq) or line.seq != index:
            raise WageFileError("BAD_SEQUENCE", f"{where}: seq must be {index}")
        _text(line.worker_name, "worker_name", where, 100)
        _text(line.id_number, "id_number", where, 32, ID_NUMBER_RE)
        _text(line.card_number, "card_number", where, 32, CARD_RE)
        _text(line.bank_name, "bank_name", where, 100)
        _text(line.remark, "remark", where, 200, required=False)
        if not is_int(line.amount_fen) or not 0 < line.amount_fen <= MAX_AMOUNT_FEN:
            raise WageFileError("BAD_AMOUNT", f"{where}: amount_fen must be a positive integer")
    if header.line_count != len(lines):
        raise WageFileError("LINE_COUNT_MISMATCH", f"header says {header.line_count}, file has {len(lines)}")
    total = sum(line.amount_fen for line in lines)
    if header.total_fen != total:
        raise WageFileError("TOTAL_MISMATCH", f"header says {header.total_fen}, lines sum to {total}")
