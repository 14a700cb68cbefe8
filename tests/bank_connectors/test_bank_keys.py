"""The bank's keys as the platform pins them (SHIMING_BANK_KEYS_FILE), against the real reference bank.

The bank writes its public key file (`shiming bank --keys-out`); the operator copies it to the
platform. During a rotation the file lists the old and the new key set: statements signed by either
verify, wage files are sealed to the current one; once the old set is dropped from the file, its
statements are refused, without a restart (the file is re-read when it changes).
"""
from __future__ import annotations

import json
import os

import pytest

from bank_connectors.http import fetch_bank_keys
from bank_connectors.keys import (BankKeysError, PinnedBankKeys, PinnedKey, PinnedKeysFile, load_or_create_keys,
                                  load_pinned_bank_keys, write_public_key_file)
from bank_connectors.signing import public_hex
from bank_connectors.wagefile import Statement, StatementError, StatementLine, sign_statement, verify_statement
from tests.helpers.wage_files import OPEN_CARD, new_batch_id, sealed


def test_the_bank_writes_the_key_file_the_platform_pins(bank):
    pinned = bank.pinned_keys()
    published = fetch_bank_keys(bank.url).to_dict()  # what the bank says at its address, for comparison only
    assert len(pinned.keys) == 1 and pinned.current_id == pinned.keys[0].key_id
    assert public_hex(pinned.signing) == published["signing"]
    assert public_hex(pinned.encryption) == published["encryption"]
    on_disk = load_or_create_keys(bank.home / "keys").public()
    assert public_hex(on_disk.signing) == published["signing"]


@pytest.mark.parametrize("body", [
    b"", b"[]", b"{}", b'{"keys": []}', b'{"keys": [{"signing": "00", "encryption": "00"}]}',
    b'{"keys": "x"}', b"[" * 100_000, b"\xff",
])
def test_a_bad_key_file_is_an_error_never_an_empty_trust(tmp_path, body):
    path = tmp_path / "bank-keys.json"
    path.write_bytes(body)
    with pytest.raises(BankKeysError):
        load_pinned_bank_keys(path)
    with pytest.raises(BankKeysError):
        PinnedKeysFile(path)()
    with pytest.raises(BankKeysError):
        PinnedKeysFile(None)()  # nothing configured: nothing is trusted
    with pytest.raises(BankKeysError):
        PinnedKeysFile(tmp_path / "missing.json")()


def _overlap(old, new) -> PinnedBankKeys:
    return PinnedBankKeys((PinnedKey("bank-2025", old.signing, old.encryption),
                           PinnedKey("bank-2026", new.signing, new.encryption)), "bank-2026")


def test_rotation_overlap_old_and_new_verify_wage_files_go_to_the_current_key(bank, callback, platform_keys,
                                                                               tmp_path):
    retired = load_or_create_keys(tmp_path / "retired-bank-keys")  # the bank's key set before the rotation
    current = bank.pinned_keys().current
    pinned_path = tmp_path / "bank-keys.json"
    write_public_key_file(pinned_path, _overlap(retired.public(), current))
    pinned = PinnedKeysFile(pinned_path)
    keys = pinned()
    assert [k.key_id for k in keys.keys] == ["bank-2025", "bank-2026"] and keys.current_id == "bank-2026"
    assert load_pinned_bank_keys(pinned_path).to_dict() == keys.to_dict()  # the file round-trips

    # a wage file sealed to the current key is opened and paid by the real bank; its statement verifies
    batch_id = new_batch_id()
    assert public_hex(keys.encryption) == public_hex(current.encryption)
    assert bank.connector().submit_wage_file(batch_id, sealed(batch_id, platform_keys, keys,
                                                              people=(OPEN_CARD,)), batch_id).accepted
    body = callback.wait_acknowledged(batch_id).body
    assert verify_statement(body, pinned()).lines[0].status == "paid"
    assert keys.key_id_of(json.loads(body)["signer"]) == "bank-2026"

    # a statement signed with the retired key still verifies during the overlap …
    old_statement = sign_statement(Statement("ST-OLD-KEY", batch_id, issued_at="2026-01-01T00:00:00Z", lines=[
        StatementLine(1, "paid", 100, paid_at="2026-01-01T00:00:00Z")]), retired.signing)
    assert verify_statement(old_statement, pinned()).statement_id == "ST-OLD-KEY"
    # … and a wage file sealed to it is one the bank cannot open
    stale = new_batch_id()
    refused = bank.connector().submit_wage_file(stale, sealed(stale, platform_keys, retired.public()), stale)
    assert not refused.accepted

    # the overlap ends: the retired key set is dropped from the file; no restart needed
    write_public_key_file(pinned_path, PinnedBankKeys((current,), current.key_id))
    os.utime(pinned_path, ns=(1, 1))  # a different mtime even within the clock's resolution
    with pytest.raises(StatementError) as exc:
        verify_statement(old_statement, pinned())
    assert exc.value.code == "bad_signature"
    assert verify_statement(body, pinned()).batch_id == batch_id


def test_a_single_key_form_and_an_explicit_current(tmp_path):
    a, b = load_or_create_keys(tmp_path / "a").public(), load_or_create_keys(tmp_path / "b").public()
    path = tmp_path / "k.json"
    path.write_text(json.dumps(a.to_dict()))  # the form GET /api/v1/keys answers: one key set
    assert public_hex(load_pinned_bank_keys(path).encryption) == public_hex(a.encryption)
    doc = _overlap(a, b).to_dict()
    doc["current"] = "bank-2025"  # the operator may keep sealing to the old key until the bank is ready
    path.write_text(json.dumps(doc))
    assert public_hex(load_pinned_bank_keys(path).encryption) == public_hex(a.encryption)
    doc["current"] = "nobody"
    path.write_text(json.dumps(doc))
    with pytest.raises(BankKeysError):
        load_pinned_bank_keys(path)
