"""The wage-file codec, the envelope and the statement signature, without a bank."""
from __future__ import annotations

import json
import os
import stat

import pytest

from bank_connectors.keys import PublicKeys, load_or_create_keys
from bank_connectors.signing import b64decode, b64encode, canonical_json, sign_document
from bank_connectors.wagefile import (ALG_AES, ALG_SM4, STATEMENT_DOMAIN, Statement, StatementError,
                                      StatementLine, WageFileError, WageFileLine, decode_wage_file,
                                      encode_wage_file, open_wage_file, seal_wage_file, sign_statement,
                                      verify_statement)
from tests.helpers.wage_files import CLOSED_CARD, OPEN_CARD, wage_file


@pytest.fixture(scope="module")
def parties(tmp_path_factory):
    home = tmp_path_factory.mktemp("parties")
    return load_or_create_keys(home / "platform"), load_or_create_keys(home / "bank")


def _seal(parties, plaintext: bytes, batch_id: str = "B-1", alg: str | None = None) -> bytes:
    platform, bank = parties
    kwargs = {"alg": alg} if alg else {}
    return seal_wage_file(plaintext, batch_id=batch_id, platform_signing_key=platform.signing,
                          bank_public_key=bank.encryption.public_key(), **kwargs)


def _open(parties, envelope: bytes, platform_key=None):
    platform, bank = parties
    return open_wage_file(envelope, bank_private_key=bank.encryption,
                          platform_public_key=platform_key or platform.signing.public_key())


def _edit(envelope: bytes, **changes) -> bytes:
    obj = json.loads(envelope)
    obj.update(changes)
    return canonical_json(obj)


def _flip(b64: str) -> str:
    raw = bytearray(b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return b64encode(bytes(raw))


def test_wage_file_round_trips_through_encode_and_decode():
    header, lines = wage_file("B-1", people=(OPEN_CARD, CLOSED_CARD))
    data = encode_wage_file(header, lines)
    assert data.decode("utf-8").count("\n") == 3
    assert decode_wage_file(data) == (header, lines)
    assert encode_wage_file(*decode_wage_file(data)) == data


@pytest.mark.parametrize("field_name, value, code", [
    ("line_count", 3, "LINE_COUNT_MISMATCH"),
    ("total_fen", 1, "TOTAL_MISMATCH"),
])
def test_header_must_agree_with_the_lines(field_name, value, code):
    header, lines = wage_file("B-1", people=(OPEN_CARD, CLOSED_CARD))
    rows = encode_wage_file(header, lines).decode().splitlines()
    first = json.loads(rows[0])
    first[field_name] = value
    edited = "\n".join([json.dumps(first, ensure_ascii=False), *rows[1:]]).encode()
    with pytest.raises(WageFileError) as refused:
        decode_wage_file(edited)
    assert refused.value.code == code
    with pytest.raises(WageFileError):
        encode_wage_file(type(header)(**{**header.__dict__, field_name: value}), lines)


@pytest.mark.parametrize("data, code", [
    (b"", "MALFORMED"),
    (b"\xff\xfe", "MALFORMED"),
    (b"not json\n", "MALFORMED"),
    (b'{"type":"line"}\n', "MALFORMED"),
    (b'{"type":"header","format":"other/9"}\n', "UNSUPPORTED_FORMAT"),
])
def test_malformed_plaintext_is_refused(data, code):
    with pytest.raises(WageFileError) as refused:
        decode_wage_file(data)
    assert refused.value.code == code


@pytest.mark.parametrize("change, code", [
    ({"seq": 2}, "BAD_SEQUENCE"),
    ({"amount_fen": 0}, "BAD_AMOUNT"),
    ({"amount_fen": 12.5}, "BAD_AMOUNT"),
    ({"card_number": "6217 0000 1000"}, "BAD_FIELD"),
    ({"worker_name": " "}, "BAD_FIELD"),
])
def test_bad_lines_are_refused(change, code):
    header, lines = wage_file("B-1")
    line = WageFileLine(**{**lines[0].__dict__, **change})
    with pytest.raises(WageFileError) as refused:
        encode_wage_file(header, [line])
    assert refused.value.code == code


@pytest.mark.parametrize("alg", [ALG_SM4, ALG_AES])
def test_sealed_file_opens_with_the_bank_key_and_the_platform_key(parties, alg):
    header, lines = wage_file("B-1", people=(OPEN_CARD, CLOSED_CARD))
    plaintext = encode_wage_file(header, lines)
    envelope = _seal(parties, plaintext, alg=alg)
    obj = json.loads(envelope)
    assert obj["alg"] == alg and obj["batch_id"] == "B-1"
    assert "张三" not in envelope.decode() and header.payer_account not in envelope.decode()
    opened_header, opened_lines, digest = _open(parties, envelope)
    assert (opened_header, opened_lines) == (header, lines)
    assert digest == obj["plaintext_sha256"]


def test_tampered_ciphertext_is_refused(parties):
    envelope = _seal(parties, encode_wage_file(*wage_file("B-1")))
    tampered = _edit(envelope, ciphertext=_flip(json.loads(envelope)["ciphertext"]))
    with pytest.raises(WageFileError) as refused:
        _open(parties, tampered)
    assert refused.value.code == "BAD_SIGNATURE"


def test_tampered_signature_is_refused(parties):
    envelope = _seal(parties, encode_wage_file(*wage_file("B-1")))
    with pytest.raises(WageFileError) as refused:
        _open(parties, _edit(envelope, signature=_flip(json.loads(envelope)["signature"])))
    assert refused.value.code == "BAD_SIGNATURE"


def test_file_signed_by_another_platform_key_is_refused(parties, tmp_path):
    impostor = load_or_create_keys(tmp_path / "impostor")
    _platform, bank = parties
    envelope = _seal((impostor, bank), encode_wage_file(*wage_file("B-1")))
    with pytest.raises(WageFileError) as refused:
        _open(parties, envelope)
    assert refused.value.code == "BAD_SIGNATURE"


def test_envelope_moved_to_another_batch_id_is_refused(parties):
    envelope = _seal(parties, encode_wage_file(*wage_file("B-1")))
    with pytest.raises(WageFileError) as refused:
        _open(parties, _edit(envelope, batch_id="B-2"))
    assert refused.value.code == "BAD_SIGNATURE"


def test_file_sealed_for_another_bank_does_not_open(parties, tmp_path):
    platform, _bank = parties
    other_bank = load_or_create_keys(tmp_path / "other-bank")
    envelope = _seal((platform, other_bank), encode_wage_file(*wage_file("B-1")))
    with pytest.raises(WageFileError) as refused:
        _open(parties, envelope)
    assert refused.value.code == "DECRYPT_FAILED"


def test_header_batch_id_must_be_the_envelope_batch_id(parties):
    envelope = _seal(parties, encode_wage_file(*wage_file("B-1")), batch_id="B-2")
    with pytest.raises(WageFileError) as refused:
        _open(parties, envelope)
    assert refused.value.code == "BATCH_ID_MISMATCH"


def _statement() -> Statement:
    return Statement(statement_id="ST-1", batch_id="B-1", issued_at="2025-04-01T08:00:00Z", lines=[
        StatementLine(seq=1, status="paid", amount_fen=350_000, paid_at="2025-04-01T07:59:58Z"),
        StatementLine(seq=2, status="failed", amount_fen=350_100, code="CARD_CLOSED", reason="the card is closed"),
    ])


def test_signed_statement_verifies_with_the_bank_key(parties):
    _platform, bank = parties
    stmt = _statement()
    body = sign_statement(stmt, bank.signing)
    assert verify_statement(body, bank.signing.public_key()) == stmt
    assert json.loads(body)["paid_fen"] == 350_000 == stmt.paid_fen


@pytest.mark.parametrize("change", [{"paid_fen": 700_100}, {"batch_id": "B-9"}, {"lines": []}])
def test_altered_statement_fails_verification(parties, change):
    _platform, bank = parties
    body = _edit(sign_statement(_statement(), bank.signing), **change)
    with pytest.raises(StatementError) as refused:
        verify_statement(body, bank.signing.public_key())
    assert refused.value.code == "bad_signature"


def test_statement_signed_by_another_key_fails_verification(parties):
    platform, bank = parties
    with pytest.raises(StatementError) as refused:
        verify_statement(sign_statement(_statement(), platform.signing), bank.signing.public_key())
    assert refused.value.code == "bad_signature"


def test_garbage_and_inconsistent_statements_are_malformed(parties):
    _platform, bank = parties
    for body in (b"", b"[]", b'{"statement_id": "x"}'):
        with pytest.raises(StatementError) as refused:
            verify_statement(body, bank.signing.public_key())
        assert refused.value.code == "malformed"
    doc = json.loads(sign_statement(_statement(), bank.signing))
    doc["paid_count"] = 2  # signed by the bank, but the totals lie
    body = canonical_json(sign_document(doc, bank.signing, STATEMENT_DOMAIN))
    with pytest.raises(StatementError) as refused:
        verify_statement(body, bank.signing.public_key())
    assert refused.value.code == "malformed"


def test_keys_are_created_once_private_and_exported_as_hex(tmp_path):
    keys = load_or_create_keys(tmp_path / "keys")
    again = load_or_create_keys(tmp_path / "keys")
    assert again.public().to_dict() == keys.public().to_dict()
    for name in ("signing.pem", "encryption.pem"):
        assert stat.S_IMODE(os.stat(tmp_path / "keys" / name).st_mode) == 0o600
    exported = keys.public().to_dict()
    assert set(exported) == {"signing", "encryption"} and all(len(v) == 64 for v in exported.values())
    assert PublicKeys.from_json(keys.public().to_json()).to_dict() == exported
    with pytest.raises(ValueError):
        PublicKeys.from_dict({"signing": "00", "encryption": exported["encryption"]})
