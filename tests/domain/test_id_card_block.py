"""The resident ID card's text block (ENR-2): GB 11643 and the 256-byte layout, property-based."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.id_card import (
    BLOCK_SIZE,
    CARD_TYPE_OFFSET,
    MESSAGES,
    IdCardError,
    IdCardRefusal,
    encode_text_block,
    parse_text_block,
)
from domain.rules import PROVINCE_CODES, id_number_check_char, mask_id_number
from tests.helpers.identities import SAMPLE, TODAY, block_of, expired, id_number_for, identities, with_field



def refusal(block: bytes, today: date = TODAY) -> IdCardError:
    with pytest.raises(IdCardError) as caught:
        parse_text_block(block, today=today)
    return caught.value


def test_the_layout_is_the_documented_one():
    block = block_of(SAMPLE)
    assert len(block) == BLOCK_SIZE
    assert block[0:6].decode("utf-16-le") == "韦小宝"
    assert block[30:32].decode("utf-16-le") == "1"  # male
    assert block[32:36].decode("utf-16-le") == "02"
    assert block[36:52].decode("utf-16-le") == "19850312"
    assert block[122:158].decode("utf-16-le") == SAMPLE.id_number
    assert block[188:204].decode("utf-16-le") == "20200506"
    assert block[204:220].decode("utf-16-le") == "20400506"
    assert block[220:256] == " ".encode("utf-16-le") * 18


@given(identities())
def test_a_valid_identity_survives_encode_and_parse(record):
    assert parse_text_block(encode_text_block(record), today=TODAY) == record


@given(identities())
def test_a_card_without_end_date_reads_as_valid_without_end(record):
    block = with_field(encode_text_block(record), "valid_to", "长期")
    assert parse_text_block(block, today=TODAY).valid_to is None


@given(identities(), st.sampled_from("0123456789X"))
def test_a_corrupt_check_digit_is_refused(record, wrong):
    assume(wrong != record.id_number[17])
    error = refusal(block_of(replace(record, id_number=record.id_number[:17] + wrong)))
    assert error.code is IdCardRefusal.ID_NUMBER_CHECK_DIGIT
    assert error.masked_id_number == mask_id_number(record.id_number[:17] + wrong)


@given(identities())
def test_a_gender_that_contradicts_the_17th_digit_is_refused(record):
    other = "F" if record.gender == "M" else "M"
    assert refusal(block_of(replace(record, gender=other))).code is IdCardRefusal.GENDER_MISMATCH


@given(identities(), st.sampled_from(["0", "9", "3", "M", "男"]))
def test_an_unknown_gender_code_is_refused(record, code):
    error = refusal(with_field(block_of(record), "gender_code", code))
    assert error.code is IdCardRefusal.BAD_GENDER_CODE


@given(identities(), st.sampled_from(["20230230", "19851301", "1985031", "abcdefgh", ""]))
def test_a_birth_date_that_is_no_date_is_refused(record, text):
    assert refusal(with_field(block_of(record), "birth_date", text)).code is IdCardRefusal.BAD_BIRTH_DATE


@given(identities(), st.integers(1, 3000))
def test_a_birth_date_other_than_the_id_numbers_is_refused(record, days):
    other = record.birth_date - timedelta(days=days)
    block = with_field(block_of(record), "birth_date", f"{other:%Y%m%d}")
    assert refusal(block).code is IdCardRefusal.BIRTH_DATE_MISMATCH


@given(identities(), st.integers(0, 99))
def test_an_id_number_with_an_unknown_region_is_refused(record, prefix):
    region = f"{prefix:02d}"
    assume(region not in PROVINCE_CODES)
    number = id_number_for(region + record.id_number[2:6], record.birth_date, int(record.id_number[14:17]))
    assert refusal(block_of(replace(record, id_number=number))).code is IdCardRefusal.ID_NUMBER_REGION


@given(identities())
def test_an_id_number_of_someone_under_16_is_refused(record):
    young = TODAY - timedelta(days=365 * 10)
    number = id_number_for(record.id_number[:6], young, int(record.id_number[14:17]))
    block = block_of(replace(record, id_number=number, birth_date=young, valid_from=young))
    assert refusal(block).code is IdCardRefusal.ID_NUMBER_BIRTH_DATE


@given(identities(), st.sampled_from(["12345", "4501031985031212", "45010319850312123Y", "A50103198503121234"]))
def test_a_malformed_id_number_is_refused(record, number):
    assert refusal(with_field(block_of(record), "id_number", number)).code is IdCardRefusal.ID_NUMBER_FORMAT


@given(identities(), st.integers(0, BLOCK_SIZE - 1))
def test_a_truncated_block_is_refused(record, length):
    error = refusal(block_of(record)[:length])
    assert error.code is IdCardRefusal.MALFORMED_BLOCK
    assert f"{length} bytes" in error.message


@given(identities(), st.binary(min_size=1, max_size=64))
def test_a_block_with_trailing_bytes_is_refused(record, extra):
    assert refusal(block_of(record) + extra).code is IdCardRefusal.MALFORMED_BLOCK


@given(identities(), st.sampled_from([0, 30, 52, 122, 158]))
def test_a_lone_surrogate_is_not_ucs2_text(record, offset):
    block = bytearray(block_of(record))
    block[offset:offset + 2] = b"\x00\xd8"
    assert refusal(bytes(block)).code is IdCardRefusal.MALFORMED_BLOCK


@given(identities(), st.sampled_from(["name", "address", "issuer"]))
def test_an_empty_text_field_is_refused(record, field):
    code = {"name": IdCardRefusal.BAD_NAME, "address": IdCardRefusal.BAD_ADDRESS, "issuer": IdCardRefusal.BAD_ISSUER}
    assert refusal(with_field(block_of(record), field, "")).code is code[field]


@given(identities(), st.characters(min_codepoint=0xE000, max_codepoint=0xF8FF))
def test_a_rare_character_from_the_private_use_area_is_kept(record, rare):
    record = replace(record, name=record.name[:14] + rare)
    assert parse_text_block(block_of(record), today=TODAY).name == record.name


@given(identities(), st.sampled_from(["\n", "\x07", "\u2028"]))
def test_a_control_character_in_a_text_field_is_refused(record, control):
    assert refusal(block_of(replace(record, name=record.name[:1] + control + "x"))).code is IdCardRefusal.BAD_NAME


@given(identities(), st.sampled_from(["00", "57", "99", "1"]))
def test_an_unknown_nation_code_is_refused(record, code):
    assert refusal(with_field(block_of(record), "nation_code", code)).code is IdCardRefusal.BAD_NATION_CODE


@given(identities())
def test_a_residence_permit_is_recognised_and_refused(record):
    error = refusal(block_of(record, card_type_flag="J"))
    assert error.code is IdCardRefusal.RESIDENCE_PERMIT
    assert "residence permit" in error.message


@given(identities())
def test_a_foreigners_permanent_residence_card_is_recognised_and_refused(record):
    error = refusal(block_of(record, card_type_flag="I"))
    assert error.code is IdCardRefusal.FOREIGN_PERMANENT_RESIDENCE
    assert "foreigner" in error.message


@given(identities(), st.characters(max_codepoint=0xFFFF, exclude_characters=" \x00JI", exclude_categories=("Cs",)))
def test_an_unknown_card_type_flag_is_refused(record, flag):
    assert refusal(block_of(record, card_type_flag=flag)).code is IdCardRefusal.UNKNOWN_CARD_TYPE


@given(identities())
def test_a_zero_card_type_flag_is_a_resident_card(record):
    block = bytearray(block_of(record))
    block[CARD_TYPE_OFFSET:CARD_TYPE_OFFSET + 2] = b"\x00\x00"
    assert parse_text_block(bytes(block), today=TODAY) == record


@given(identities(), st.integers(1, 4000))
def test_an_expired_card_is_refused(record, days_ago):
    valid_to = TODAY - timedelta(days=days_ago)
    assume(valid_to >= max(record.valid_from, record.birth_date))
    error = refusal(block_of(replace(record, valid_to=valid_to)))
    assert error.code is IdCardRefusal.EXPIRED
    assert valid_to.isoformat() in error.message


def test_a_card_is_valid_through_its_last_day_in_china_time():
    last_day = replace(SAMPLE, valid_to=TODAY)
    assert parse_text_block(block_of(last_day), today=TODAY) == last_day
    assert refusal(block_of(last_day), today=TODAY + timedelta(days=1)).code is IdCardRefusal.EXPIRED


@given(identities())
def test_a_validity_end_before_its_start_is_refused(record):
    block = with_field(block_of(record), "valid_from", f"{TODAY:%Y%m%d}")
    block = with_field(block, "valid_to", f"{TODAY - timedelta(days=1):%Y%m%d}")
    assert refusal(block).code is IdCardRefusal.BAD_VALIDITY
    assert refusal(with_field(block_of(record), "valid_to", "永久")).code is IdCardRefusal.BAD_VALIDITY


def test_a_card_valid_only_from_tomorrow_is_refused():
    future = replace(SAMPLE, valid_from=TODAY + timedelta(days=1))
    assert refusal(block_of(future)).code is IdCardRefusal.NOT_YET_VALID


REFUSALS = st.sampled_from([
    lambda r: block_of(replace(r, id_number=r.id_number[:17] + ("0" if r.id_number[17] != "0" else "1"))),
    lambda r: block_of(replace(r, gender="F" if r.gender == "M" else "M")),
    lambda r: block_of(expired(r)),
    lambda r: with_field(block_of(r), "birth_date", "19000101"),
    lambda r: with_field(block_of(r), "valid_to", "永久"),
])


@given(identities(), REFUSALS)
def test_no_refusal_shows_the_full_id_number(record, corrupt):
    error = refusal(corrupt(record))
    for text in (error.message, str(error), error.detail, repr(error)):
        assert record.id_number[:17] not in text
    assert error.masked_id_number == mask_id_number(record.id_number[:17] + error.masked_id_number[-1])


def test_every_refusal_code_has_an_english_message():
    assert set(MESSAGES) == set(IdCardRefusal)
    for code in IdCardRefusal:
        assert IdCardError(code, "x", masked_id_number="450***********1234").message


def test_an_identity_record_keeps_the_id_number_out_of_its_repr():
    assert SAMPLE.id_number not in repr(SAMPLE) and SAMPLE.name not in repr(SAMPLE)


def test_the_check_digit_is_gb_11643s():
    assert id_number_check_char("11010519491231002") == "X"  # the standard's own example
