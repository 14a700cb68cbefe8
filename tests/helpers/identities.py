"""Resident-ID identities for tests: a hypothesis strategy, a fixed sample, and block surgery."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import strategies as st

from domain.id_card import ENCODING, FIELDS, NATION_CODES, PAD, IdentityRecord, encode_text_block
from domain.rules import PROVINCE_CODES, id_number_check_char

TODAY = date(2026, 12, 2)  # China Standard Time date the tests read cards on

_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


def id_number_for(region: str, born: date, sequence: int) -> str:
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + id_number_check_char(body)


@st.composite
def identities(draw, today: date = TODAY) -> IdentityRecord:
    """Valid resident-ID identities on `today`: holder 16–100, card valid today."""
    region = draw(st.sampled_from(sorted(PROVINCE_CODES))) + draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    youngest = date(today.year - 16, today.month, today.day)
    oldest = date(today.year - 100, today.month, today.day) + timedelta(days=1)
    born = draw(st.dates(min_value=oldest, max_value=youngest))
    sequence = draw(st.integers(0, 999))
    id_number = id_number_for(region, born, sequence)
    valid_from = draw(st.dates(min_value=max(born, today - timedelta(days=20 * 366)), max_value=today))
    valid_to = draw(st.none() | st.dates(min_value=max(today, valid_from), max_value=valid_from + timedelta(days=20 * 366)))
    middle_dot = draw(st.booleans())
    name = draw(st.text(_CJK, min_size=1, max_size=7))
    if middle_dot:
        name += "·" + draw(st.text(_CJK, min_size=1, max_size=7))
    return IdentityRecord(
        name=name,
        gender="M" if sequence % 2 else "F",
        nation_code=draw(st.sampled_from(sorted(NATION_CODES))),
        birth_date=born,
        address=draw(st.text(_CJK | st.sampled_from("0123456789-号"), min_size=1, max_size=35)).strip() or "南宁",
        id_number=id_number,
        issuer=draw(st.text(_CJK, min_size=1, max_size=15)),
        valid_from=valid_from,
        valid_to=valid_to,
    )


SAMPLE = IdentityRecord(
    name="韦小宝", gender="M", nation_code="02", birth_date=date(1985, 3, 12),
    address="广西壮族自治区南宁市青秀区民族大道100号", id_number=id_number_for("450103", date(1985, 3, 12), 123),
    issuer="南宁市公安局青秀分局", valid_from=date(2020, 5, 6), valid_to=date(2040, 5, 6),
)


def expired(record: IdentityRecord = SAMPLE, today: date = TODAY) -> IdentityRecord:
    return replace(record, valid_from=date(2006, 1, 10), valid_to=today - timedelta(days=1))


def with_field(block: bytes, field: str, text: str) -> bytes:
    """`block` with one field's text replaced (space-padded, cut to the field's width)."""
    offset, length = next((o, n) for name, o, n in FIELDS if name == field)
    encoded = (text.encode(ENCODING) + PAD.encode(ENCODING) * length)[:length]
    return block[:offset] + encoded + block[offset + length:]


def block_of(record: IdentityRecord = SAMPLE, **kw) -> bytes:
    return encode_text_block(record, **kw)
