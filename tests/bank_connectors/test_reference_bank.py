"""The reference bank as a real process, driven through HttpBankConnector like the platform does."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from bank_connectors.http import HttpBankConnector, fetch_bank_keys
from bank_connectors.keys import load_or_create_keys
from bank_connectors.protocol import AccountCheck, BankConnector, BankUnavailable
from bank_connectors.signing import b64decode, b64encode, canonical_json, public_hex
from bank_connectors.wagefile import StatementError, encode_wage_file, seal_wage_file, verify_statement
from shiming.processes import free_port
from tests.helpers.bank_process import BankProcess, write_ledger
from tests.helpers.wage_files import (CLOSED_CARD, NAME_MISMATCH, OPEN_CARD, PAYER_ACCOUNT, PAYER_NAME,
                                              UNKNOWN_CARD, new_batch_id, sealed, wage_file)


@pytest.fixture(scope="module")
def bank_keys(bank):
    return fetch_bank_keys(bank.url)


def _wait_settled(connector: HttpBankConnector, batch_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = connector.batch_status(batch_id)
        if view and view["statement_id"]:
            return view
        time.sleep(0.05)
    raise TimeoutError(f"batch {batch_id} not settled")


def test_published_keys_are_the_banks_own_key_files(bank, bank_keys):
    on_disk = load_or_create_keys(bank.home / "keys")
    assert bank_keys.to_dict() == on_disk.public().to_dict()
    assert isinstance(bank.connector(), BankConnector)


@pytest.mark.parametrize("number, name, code", [
    (PAYER_ACCOUNT, PAYER_NAME, ""),
    ("6222020299999999999", PAYER_NAME, "NOT_FOUND"),
    (PAYER_ACCOUNT, "另一家公司", "NAME_MISMATCH"),
    ("6222020200087654321", "某劳务公司", "NOT_WAGE_ACCOUNT"),
    ("6222020200011110000", "已销户项目部工资专户", "CLOSED"),
])
def test_validate_account(bank, number, name, code):
    result = bank.connector().validate_account(AccountCheck(number, name, f"acct-{number}-{code}"))
    assert (result.ok, result.code) == (code == "", code)


CARD_CHECKS = [
    (OPEN_CARD, ""),
    (CLOSED_CARD, "CLOSED"),
    (UNKNOWN_CARD, "NOT_FOUND"),
    (NAME_MISMATCH, "NAME_MISMATCH"),
]


@pytest.mark.parametrize("holder, code", CARD_CHECKS)
def test_validate_a_workers_card(bank, holder, code):
    """A worker's card: exists, open, the holder's name; never asked to be a wage special account."""
    name, number = holder
    result = bank.connector().validate_account(AccountCheck(number, name, f"card-{number}-{code}", kind="card"))
    assert (result.ok, result.code) == (code == "", code)


def test_a_card_is_not_a_wage_account_and_a_wage_account_is_not_a_card(bank):
    name, number = OPEN_CARD
    as_account = bank.connector().validate_account(AccountCheck(number, name, "card-as-account"))
    assert (as_account.ok, as_account.code) == (False, "NOT_FOUND")
    as_card = bank.connector().validate_account(AccountCheck(PAYER_ACCOUNT, PAYER_NAME, "account-as-card", kind="card"))
    assert (as_card.ok, as_card.code) == (False, "NOT_FOUND")


def test_an_unknown_kind_of_check_is_malformed(bank):
    body = json.dumps({"account_number": PAYER_ACCOUNT, "account_name": PAYER_NAME, "kind": "loan"}).encode()
    req = urllib.request.Request(bank.url + "/api/v1/accounts/validate", method="POST", data=body,
                                 headers={"Content-Type": "application/json", "Idempotency-Key": "k-loan"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=5)
    assert refused.value.code == 400 and json.loads(refused.value.read())["code"] == "MALFORMED"


def test_validate_account_without_idempotency_key_is_refused(bank):
    body = json.dumps({"account_number": PAYER_ACCOUNT, "account_name": PAYER_NAME}).encode()
    req = urllib.request.Request(bank.url + "/api/v1/accounts/validate", method="POST", data=body,
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=5)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["code"] == "MISSING_IDEMPOTENCY_KEY"


def test_each_line_is_paid_or_failed_from_the_ledger_and_the_statement_is_called_back(
        bank, callback, platform_keys, bank_keys):
    batch_id = new_batch_id()
    envelope = sealed(batch_id, platform_keys, bank_keys, people=(OPEN_CARD, CLOSED_CARD, UNKNOWN_CARD, NAME_MISMATCH))
    result = bank.connector().submit_wage_file(batch_id, envelope, f"{batch_id}-submit")
    assert (result.accepted, result.duplicate) == (True, False)

    delivery = callback.wait_acknowledged(batch_id)
    stmt = verify_statement(delivery.body, bank_keys.signing)
    assert stmt.batch_id == batch_id and delivery.statement_id == stmt.statement_id
    assert [(line.seq, line.status, line.code) for line in stmt.lines] == [
        (1, "paid", ""), (2, "failed", "CARD_CLOSED"), (3, "failed", "CARD_UNKNOWN"), (4, "failed", "NAME_MISMATCH")]
    assert stmt.lines[0].paid_at and stmt.paid_fen == 350_000
    assert bank.connector().fetch_statement(batch_id) == delivery.body


def test_statement_verifies_with_the_published_key_and_fails_when_altered(bank, callback, platform_keys, bank_keys):
    batch_id = new_batch_id()
    bank.connector().submit_wage_file(batch_id, sealed(batch_id, platform_keys, bank_keys), batch_id)
    body = callback.wait_acknowledged(batch_id).body
    assert verify_statement(body, fetch_bank_keys(bank.url).signing).lines[0].status == "paid"
    doc = json.loads(body)
    doc["lines"][0]["amount_fen"] += 100
    doc["paid_fen"] += 100
    with pytest.raises(StatementError) as refused:
        verify_statement(canonical_json(doc), bank_keys.signing)
    assert refused.value.code == "bad_signature"
    with pytest.raises(StatementError):
        verify_statement(body, platform_keys.signing.public_key())


def test_replayed_file_is_a_duplicate_and_pays_nothing_twice(bank, callback, platform_keys, bank_keys):
    batch_id = new_batch_id()
    envelope = sealed(batch_id, platform_keys, bank_keys, people=(OPEN_CARD, OPEN_CARD))
    connector = bank.connector()
    assert not connector.submit_wage_file(batch_id, envelope, f"{batch_id}-submit").duplicate
    callback.wait_acknowledged(batch_id)
    again = connector.submit_wage_file(batch_id, envelope, f"{batch_id}-submit")
    assert (again.accepted, again.duplicate) == (True, True)
    resealed = sealed(batch_id, platform_keys, bank_keys, people=(OPEN_CARD, OPEN_CARD))  # same file, new envelope
    assert resealed != envelope
    assert connector.submit_wage_file(batch_id, resealed, f"{batch_id}-submit-retry").duplicate
    time.sleep(0.5)
    view = connector.batch_status(batch_id)
    assert view["payments_recorded"] == 2 and view["paid_fen"] == 350_000 + 350_100
    assert len(callback.for_batch(batch_id)) == 1


def test_other_content_under_a_used_batch_id_is_refused_with_409(bank, platform_keys, bank_keys):
    batch_id = new_batch_id()
    connector = bank.connector()
    assert connector.submit_wage_file(batch_id, sealed(batch_id, platform_keys, bank_keys), batch_id).accepted
    other = sealed(batch_id, platform_keys, bank_keys, amounts=[999_900])
    result = connector.submit_wage_file(batch_id, other, batch_id + "-other")
    assert (result.accepted, result.code) == (False, "BATCH_CONFLICT")
    status, body = _post_raw(bank, other, batch_id + "-other")
    assert status == 409 and body["code"] == "BATCH_CONFLICT"


def test_an_idempotency_key_cannot_be_reused_for_another_batch(bank, platform_keys, bank_keys):
    first, second = new_batch_id(), new_batch_id()
    connector = bank.connector()
    assert connector.submit_wage_file(first, sealed(first, platform_keys, bank_keys), first + "-k").accepted
    result = connector.submit_wage_file(second, sealed(second, platform_keys, bank_keys), first + "-k")
    assert (result.accepted, result.code) == (False, "IDEMPOTENCY_CONFLICT")


def _post_raw(bank, envelope: bytes, key: str) -> tuple[int, dict]:
    req = urllib.request.Request(bank.url + "/api/v1/wage-files", data=envelope, method="POST",
                                 headers={"Content-Type": "application/json", "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _flip(b64: str) -> str:
    raw = bytearray(b64decode(b64))
    raw[-1] ^= 0x01
    return b64encode(bytes(raw))


@pytest.mark.parametrize("tamper", ["ciphertext", "signature", "wrapped_key", "unregistered_key", "wrong_key"])
def test_altered_or_forged_files_are_refused_and_nothing_is_recorded(bank, platform_keys, bank_keys, tmp_path, tamper):
    batch_id = new_batch_id()
    if tamper in ("unregistered_key", "wrong_key"):
        impostor = load_or_create_keys(tmp_path / "impostor")
        envelope = sealed(batch_id, impostor, bank_keys)
        if tamper == "wrong_key":  # claims to be the platform, signed by someone else
            obj = json.loads(envelope)
            obj["signer"] = json.loads(sealed(batch_id, platform_keys, bank_keys))["signer"]
            envelope = canonical_json(obj)
    else:
        obj = json.loads(sealed(batch_id, platform_keys, bank_keys))
        obj[tamper] = _flip(obj[tamper])
        envelope = canonical_json(obj)
    status, body = _post_raw(bank, envelope, batch_id)
    assert (status, body["code"]) == (400, "BAD_SIGNATURE")
    assert bank.connector().batch_status(batch_id) is None


def test_wrong_totals_are_refused(bank, platform_keys, bank_keys):
    batch_id = new_batch_id()
    rows = encode_wage_file(*wage_file(batch_id)).decode().splitlines()
    header = json.loads(rows[0])
    header["total_fen"] += 1
    plaintext = "\n".join([json.dumps(header, ensure_ascii=False), *rows[1:]]).encode() + b"\n"
    envelope = seal_wage_file(plaintext, batch_id=batch_id, platform_signing_key=platform_keys.signing,
                              bank_public_key=bank_keys.encryption)
    result = bank.connector().submit_wage_file(batch_id, envelope, batch_id)
    assert (result.accepted, result.code) == (False, "TOTAL_MISMATCH")


def test_payer_must_be_an_open_wage_account_with_its_name(bank, platform_keys, bank_keys):
    batch_id = new_batch_id()
    envelope = sealed(batch_id, platform_keys, bank_keys, payer_account="6222020200087654321", payer_name="某劳务公司")
    result = bank.connector().submit_wage_file(batch_id, envelope, batch_id)
    assert (result.accepted, result.code) == (False, "PAYER_ACCOUNT_INVALID")
    assert "NOT_WAGE_ACCOUNT" in result.reason


def test_callback_is_retried_until_acknowledged_and_then_not_again(bank, callback, platform_keys, bank_keys):
    batch_id = new_batch_id()
    callback.fail_first[batch_id] = 2
    bank.connector().submit_wage_file(batch_id, sealed(batch_id, platform_keys, bank_keys), batch_id)
    callback.wait_acknowledged(batch_id)
    time.sleep(1.5)  # longer than the retry cap the bank runs with
    deliveries = callback.for_batch(batch_id)
    assert [d.answered for d in deliveries] == [500, 500, 200]
    assert len({d.body for d in deliveries}) == 1 and len({d.statement_id for d in deliveries}) == 1
    view = bank.connector().batch_status(batch_id)
    assert view["statement_delivered"] and view["delivery_attempts"] == 3


def test_ledger_changes_through_the_loopback_admin_api_decide_later_payments(bank, callback, platform_keys,
                                                                             bank_keys):
    card = ("孙七", "6217000010000000077")
    bank.admin("cards", [{"number": card[1], "holder_name": card[0], "status": "open"}])
    first = new_batch_id()
    bank.connector().submit_wage_file(first, sealed(first, platform_keys, bank_keys, people=(card,)), first)
    assert verify_statement(callback.wait_acknowledged(first).body, bank_keys.signing).lines[0].status == "paid"
    bank.admin("cards", [{"number": card[1], "holder_name": card[0], "status": "closed"}])
    second = new_batch_id()
    bank.connector().submit_wage_file(second, sealed(second, platform_keys, bank_keys, people=(card,)), second)
    assert verify_statement(callback.wait_acknowledged(second).body, bank_keys.signing).lines[0].code == "CARD_CLOSED"


def test_unknown_batch_has_no_status_and_no_statement(bank):
    connector = bank.connector()
    assert connector.batch_status("WR-unknown") is None
    assert connector.fetch_statement("WR-unknown") is None


def test_a_bank_that_is_down_is_unavailable_not_a_refusal():
    connector = HttpBankConnector(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(BankUnavailable):
        connector.validate_account(AccountCheck(PAYER_ACCOUNT, PAYER_NAME, "k"))
    with pytest.raises(BankUnavailable):
        fetch_bank_keys(connector.base_url, timeout=2)


def test_a_restarted_bank_delivers_the_statement_it_still_owes(tmp_path, callback, platform_keys):
    """Killed after paying but before the platform acknowledged: the statement is delivered once, later."""
    ledger = write_ledger(tmp_path / "ledger.json")
    args = ("--callback-url", callback.url, "--ledger", str(ledger), "--retry-cap", "0.5",
            "--platform-key", public_hex(platform_keys.signing.public_key()))
    process = BankProcess(tmp_path / "home", *args).start()
    batch_id = new_batch_id()
    try:
        keys = fetch_bank_keys(process.url)
        callback.fail_first[batch_id] = 10**6
        process.connector().submit_wage_file(batch_id, sealed(batch_id, platform_keys, keys), batch_id)
        deadline = time.monotonic() + 10
        while not callback.for_batch(batch_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()
        callback.fail_first[batch_id] = 0
        process = BankProcess(tmp_path / "home", *args, port=process.port).start()
        delivery = callback.wait_acknowledged(batch_id)
        assert verify_statement(delivery.body, keys.signing).lines[0].status == "paid"
        assert process.connector().batch_status(batch_id)["payments_recorded"] == 1
        assert process.connector().submit_wage_file(
            batch_id, sealed(batch_id, platform_keys, keys), batch_id).duplicate
    finally:
        process.stop()
