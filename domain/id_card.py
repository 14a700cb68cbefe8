"""The resident ID card's identity text block (ENR-2): layout, parsing and the checks a read must pass.

Pure: no I/O. `devices.id_card_reader` fetches the block from a card (docs/devices.md has the APDU
exchange); this module turns the 256 bytes into an `IdentityRecord` or refuses them with an
`IdCardError` whose `code` is one of `IdCardRefusal`.

The block is UCS-2 little-endian text, every field padded with spaces (U+0020) to its width:

    offset  bytes  field                 content
    0       30     name                  up to 15 characters
    30      2      gender code           GB/T 2261.1: "1" male, "2" female
    32      4      nation code           GB 3304: "01" … "56", "97" other, "98" foreign origin
    36      16     birth date            YYYYMMDD
    52      70     address               up to 35 characters
    122     36     ID number             18 characters, GB 11643
    158     30     issuing authority     up to 15 characters
    188     16     validity start        YYYYMMDD
    204     16     validity end          YYYYMMDD, or "长期" (no end)
    220     36     reserved              spaces; the card-type flag is the character at byte 248

The card-type flag is a space (or U+0000) on a resident ID card, "J" on a Hong Kong / Macao /
Taiwan residence permit and "I" on a foreigner's permanent residence card. The last two use other
layouts and are refused (`residence_permit`, `foreign_permanent_residence`), not misread.

Checks, in order: the block's shape, the card type, every field's form, the ID number by
`domain.rules.id_number_problems` (format, region, birth date and holder aged 16–100, GB 11643
check digit), the gender code against the ID number's 17th digit, the birth date against the one
in the ID number, the validity period, and expiry (a card is valid through its end date, in China
Standard Time). Messages are English (the web translates by `code`) and carry only the masked ID
number (`domain.rules.mask_id_number`).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Optional

from .errors import CodedError
from .rules import gender_of, id_number_problems, local_today, mask_id_number, normalize_id_number

BLOCK_SIZE = 256
ENCODING = "utf-16-le"
PAD = " "
NO_END = "长期"  # validity end of a card without an end date

# (name, offset, length in bytes), in block order.
FIELDS: tuple[tuple[str, int, int], ...] = (
    ("name", 0, 30),
    ("gender_code", 30, 2),
    ("nation_code", 32, 4),
    ("birth_date", 36, 16),
    ("address", 52, 70),
    ("id_number", 122, 36),
    ("issuer", 158, 30),
    ("valid_from", 188, 16),
    ("valid_to", 204, 16),
    ("reserved", 220, 36),
)
CARD_TYPE_OFFSET = 248

GENDER_CODES = {"1": "M", "2": "F"}  # GB/T 2261.1; 0 unknown and 9 unstated never appear on a card
NATION_CODES = frozenset({f"{n:02d}" for n in range(1, 57)} | {"97", "98"})


class CardType(StrEnum):
    RESIDENT = "resident"
    RESIDENCE_PERMIT = "residence_permit"  # 港澳台居民居住证, flag "J"
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"  # 外国人永久居留身份证, flag "I"


CARD_TYPE_FLAGS = {" ": CardType.RESIDENT, "\x00": CardType.RESIDENT,
                   "J": CardType.RESIDENCE_PERMIT, "I": CardType.FOREIGN_PERMANENT_RESIDENCE}


class IdCardRefusal(StrEnum):
    """Why a card read gives no identity. The first group comes from the block, the second from
    the device layer (`devices.id_card_reader`), so one vocabulary reaches the agent and the web."""

    MALFORMED_BLOCK = "malformed_block"
    RESIDENCE_PERMIT = "residence_permit"
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"
    UNKNOWN_CARD_TYPE = "unknown_card_type"
    BAD_NAME = "bad_name"
    BAD_GENDER_CODE = "bad_gender_code"
    BAD_NATION_CODE = "bad_nation_code"
    BAD_BIRTH_DATE = "bad_birth_date"
    BAD_ADDRESS = "bad_address"
    ID_NUMBER_FORMAT = "id_number_format"
    ID_NUMBER_REGION = "id_number_region"
    ID_NUMBER_BIRTH_DATE = "id_number_birth_date"
    ID_NUMBER_CHECK_DIGIT = "id_number_check_digit"
    GENDER_MISMATCH = "gender_mismatch"
    BIRTH_DATE_MISMATCH = "birth_date_mismatch"
    BAD_ISSUER = "bad_issuer"
    BAD_VALIDITY = "bad_validity"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    # device layer
    NO_READER = "no_reader"
    READER_NOT_FOUND = "reader_not_found"
    NO_CARD = "no_card"
    CARD_REMOVED = "card_removed"
    NOT_AN_ID_CARD = "not_an_id_card"
    READ_FAILED = "read_failed"


MESSAGES: dict[IdCardRefusal, str] = {
    IdCardRefusal.MALFORMED_BLOCK: "The card's identity data is damaged or incomplete ({detail}); read the card again.",
    IdCardRefusal.RESIDENCE_PERMIT: "This is a Hong Kong, Macao or Taiwan residence permit, which is not supported yet; "
                                    "enrol this worker with a resident ID card.",
    IdCardRefusal.FOREIGN_PERMANENT_RESIDENCE: "This is a foreigner's permanent residence card, which is not supported "
                                               "yet; enrol this worker with a resident ID card.",
    IdCardRefusal.UNKNOWN_CARD_TYPE: "The card is of an unknown type (flag {detail}); only resident ID cards are supported.",
    IdCardRefusal.BAD_NAME: "The name on the card is empty or unreadable.",
    IdCardRefusal.BAD_GENDER_CODE: "The card's gender code {detail} is not valid.",
    IdCardRefusal.BAD_NATION_CODE: "The card's ethnic group code {detail} is not valid.",
    IdCardRefusal.BAD_BIRTH_DATE: "The card's birth date is not a valid date.",
    IdCardRefusal.BAD_ADDRESS: "The address on the card is empty or unreadable.",
    IdCardRefusal.ID_NUMBER_FORMAT: "The card's ID number {masked} is not 17 digits followed by a digit or X.",
    IdCardRefusal.ID_NUMBER_REGION: "The card's ID number {masked} does not start with a valid region code.",
    IdCardRefusal.ID_NUMBER_BIRTH_DATE: "The card's ID number {masked} carries no valid birth date, "
                                        "or the holder is not between 16 and 100 years old.",
    IdCardRefusal.ID_NUMBER_CHECK_DIGIT: "The card's ID number {masked} fails the GB 11643 check digit.",
    IdCardRefusal.GENDER_MISMATCH: "The card's gender does not match its ID number {masked}.",
    IdCardRefusal.BIRTH_DATE_MISMATCH: "The card's birth date does not match its ID number {masked}.",
    IdCardRefusal.BAD_ISSUER: "The issuing authority on the card is empty or unreadable.",
    IdCardRefusal.BAD_VALIDITY: "The card's validity period ({detail}) is not valid.",
    IdCardRefusal.NOT_YET_VALID: "The card with ID number {masked} is valid only from {detail}.",
    IdCardRefusal.EXPIRED: "The card with ID number {masked} expired on {detail}; the worker needs a valid ID card.",
    IdCardRefusal.NO_READER: "No ID card reader is connected; connect the reader and try again.",
    IdCardRefusal.READER_NOT_FOUND: "The ID card reader {detail} is not connected.",
    IdCardRefusal.NO_CARD: "No card is on the reader; place the ID card on the reader and try again.",
    IdCardRefusal.CARD_REMOVED: "The card was removed while it was being read; leave it on the reader and try again.",
    IdCardRefusal.NOT_AN_ID_CARD: "The card on the reader is not an ID card ({detail}).",
    IdCardRefusal.READ_FAILED: "The card could not be read ({detail}); try again or use another reader.",
}


class IdCardError(CodedError):
    """A refused card read. `code` is an `IdCardRefusal`; `message` is English for logs and for
    the translator; `masked_id_number` is set when the ID number was read. Never holds the full
    ID number."""

    def __init__(self, code: IdCardRefusal, detail: str = "", *, masked_id_number: str = ""):
        code = IdCardRefusal(code)
        self.masked_id_number = masked_id_number
        self.message = MESSAGES[code].format(detail=detail, masked=masked_id_number or "(unread)")
        super().__init__(code, detail, message=f"{code}: {self.message}")


@dataclass(frozen=True)
class IdentityRecord:
    """What a resident ID card says about its holder. `valid_to` None: valid without end (长期)."""

    name: str
    gender: str  # "M" | "F"
    nation_code: str
    birth_date: date
    address: str
    id_number: str
    issuer: str
    valid_from: date
    valid_to: Optional[date]

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:  # keep the full ID number and name out of logs and tracebacks
        return f"IdentityRecord(id_number={self.masked_id_number!r}, valid_to={self.valid_to})"


# ---- parsing -------------------------------------------------------------------------------------


def _field(block: bytes, offset: int, length: int) -> str:
    return block[offset:offset + length].decode(ENCODING)


def _printable(text: str) -> bool:
    """No control characters or line breaks. Private-use characters pass: readers hand out rare
    characters of names and addresses (生僻字) that way."""
    return all(unicodedata.category(ch) not in ("Cc", "Zl", "Zp") for ch in text)


def _yyyymmdd(text: str) -> Optional[date]:
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def card_type_of(block: bytes) -> CardType:
    """The card type from the flag at byte 248; IdCardError(unknown_card_type) for any other flag."""
    flag = block[CARD_TYPE_OFFSET:CARD_TYPE_OFFSET + 2].decode(ENCODING, errors="replace")
    if flag not in CARD_TYPE_FLAGS:
        raise IdCardError(IdCardRefusal.UNKNOWN_CARD_TYPE, repr(flag))
    return CARD_TYPE_FLAGS[flag]


def _text_fields(block) -> dict[str, str]:
    """The text fields of a main-card block, unpadded; MALFORMED_BLOCK when it is no such block,
    a refusal of its own for the permits that share the layout."""
    if not isinstance(block, (bytes, bytearray)):
        raise IdCardError(IdCardRefusal.MALFORMED_BLOCK, "not bytes")
    block = bytes(block)
    if len(block) != BLOCK_SIZE:
        raise IdCardError(IdCardRefusal.MALFORMED_BLOCK, f"{len(block)} bytes instead of {BLOCK_SIZE}")
    card_type = card_type_of(block)
    if card_type is CardType.RESIDENCE_PERMIT:
        raise IdCardError(IdCardRefusal.RESIDENCE_PERMIT)
    if card_type is CardType.FOREIGN_PERMANENT_RESIDENCE:
        raise IdCardError(IdCardRefusal.FOREIGN_PERMANENT_RESIDENCE)
    try:
        raw = {name: _field(block, offset, length) for name, offset, length in FIELDS}
    except UnicodeDecodeError:
        raise IdCardError(IdCardRefusal.MALFORMED_BLOCK, "not UCS-2 text") from None
    if any("\ud800" <= ch <= "\udfff" for text in raw.values() for ch in text):
        raise IdCardError(IdCardRefusal.MALFORMED_BLOCK, "not UCS-2 text")
    return {name: text.rstrip(PAD + "\x00") for name, text in raw.items()}


def _checked_person(f: dict[str, str]) -> date:
    """Check name, gender, nation, birth date and address; returns the birth date."""
    if not f["name"] or not _printable(f["name"]) or f["name"] != f["name"].strip():
        raise IdCardError(IdCardRefusal.BAD_NAME)
    if f["gender_code"] not in GENDER_CODES:
        raise IdCardError(IdCardRefusal.BAD_GENDER_CODE, repr(f["gender_code"]))
    if f["nation_code"] not in NATION_CODES:
        raise IdCardError(IdCardRefusal.BAD_NATION_CODE, repr(f["nation_code"]))
    born = _yyyymmdd(f["birth_date"])
    if born is None:
        raise IdCardError(IdCardRefusal.BAD_BIRTH_DATE)
    if not f["address"] or not _printable(f["address"]):
        raise IdCardError(IdCardRefusal.BAD_ADDRESS)
    return born


def _checked_id_number(f: dict[str, str], born: date, today: date) -> tuple[str, str]:
    """The ID number (normalised) and its mask, once it is valid and agrees with gender and birth date."""
    id_number = normalize_id_number(f["id_number"])
    masked = mask_id_number(id_number)
    problems = id_number_problems(id_number, today=today)
    for problem in ("format", "region", "birth_date", "check_digit"):  # the most basic one is reported
        if problem in problems:
            raise IdCardError(IdCardRefusal(f"id_number_{problem}"), masked_id_number=masked)
    if GENDER_CODES[f["gender_code"]] != gender_of(id_number):
        raise IdCardError(IdCardRefusal.GENDER_MISMATCH, masked_id_number=masked)
    if born.strftime("%Y%m%d") != id_number[6:14]:
        raise IdCardError(IdCardRefusal.BIRTH_DATE_MISMATCH, masked_id_number=masked)
    return id_number, masked


def _checked_validity(f: dict[str, str], born: date, today: date, masked: str) -> tuple[date, Optional[date]]:
    """Issuer and validity period (valid_to None: no end); refused when malformed, not yet valid or expired."""
    if not f["issuer"] or not _printable(f["issuer"]):
        raise IdCardError(IdCardRefusal.BAD_ISSUER)
    valid_from = _yyyymmdd(f["valid_from"])
    valid_to = None if f["valid_to"] == NO_END else _yyyymmdd(f["valid_to"])
    period = f"{f['valid_from']!r} to {f['valid_to']!r}"
    if valid_from is None or (valid_to is None and f["valid_to"] != NO_END) \
            or (valid_to is not None and valid_to < valid_from) or valid_from < born:
        raise IdCardError(IdCardRefusal.BAD_VALIDITY, period, masked_id_number=masked)
    if valid_from > today:
        raise IdCardError(IdCardRefusal.NOT_YET_VALID, valid_from.isoformat(), masked_id_number=masked)
    if valid_to is not None and valid_to < today:
        raise IdCardError(IdCardRefusal.EXPIRED, valid_to.isoformat(), masked_id_number=masked)
    return valid_from, valid_to


def parse_text_block(block: bytes, *, today: Optional[date] = None) -> IdentityRecord:
    """The identity on a resident ID card, or IdCardError. `today` (China Standard Time) decides expiry."""
    f = _text_fields(block)
    born = _checked_person(f)
    today = today or local_today()
    id_number, masked = _checked_id_number(f, born, today)
    valid_from, valid_to = _checked_validity(f, born, today, masked)
    return IdentityRecord(name=f["name"], gender=GENDER_CODES[f["gender_code"]], nation_code=f["nation_code"],
                          birth_date=born, address=f["address"], id_number=id_number, issuer=f["issuer"],
                          valid_from=valid_from, valid_to=valid_to)


# ---- encoding (the inverse: virtual cards in tests, fixtures, vendor-SDK adapters) --------------


def encode_text_block(record: IdentityRecord, *, card_type_flag: str = " ") -> bytes:
    """The 256-byte block for `record`; ValueError when a field does not fit its width."""
    gender_code = {v: k for k, v in GENDER_CODES.items()}[record.gender]
    values = {
        "name": record.name, "gender_code": gender_code, "nation_code": record.nation_code,
        "birth_date": record.birth_date.strftime("%Y%m%d"), "address": record.address,
        "id_number": record.id_number, "issuer": record.issuer,
        "valid_from": record.valid_from.strftime("%Y%m%d"),
        "valid_to": NO_END if record.valid_to is None else record.valid_to.strftime("%Y%m%d"),
        "reserved": "",
    }
    out = bytearray()
    for name, _offset, length in FIELDS:
        encoded = values[name].encode(ENCODING)
        if len(encoded) > length:
            raise ValueError(f"{name} does not fit in {length} bytes")
        out += encoded + PAD.encode(ENCODING) * ((length - len(encoded)) // 2)
    flag = card_type_flag.encode(ENCODING)
    if len(flag) != 2:
        raise ValueError("the card-type flag is one UCS-2 character")
    out[CARD_TYPE_OFFSET:CARD_TYPE_OFFSET + 2] = flag
    return bytes(out)
