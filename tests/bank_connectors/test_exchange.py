"""The file-exchange channel: FileExchangeConnector on the platform side, the bank's folder watcher."""
from __future__ import annotations

import json
import time

import pytest

from bank_connectors.exchange import FileExchangeConnector
from domain.files import create_exclusive, write_atomic
from bank_connectors.http import fetch_bank_keys
from bank_connectors.protocol import AccountCheck, BankConnector, BankUnavailable
from bank_connectors.signing import b64decode, b64encode, canonical_json
from bank_connectors.wagefile import verify_statement
from tests.helpers.wage_files import (CLOSED_CARD, NAME_MISMATCH, OPEN_CARD, PAYER_ACCOUNT, PAYER_NAME,
                                              UNKNOWN_CARD, new_batch_id, sealed)


def _until(fetch, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError("nothing appeared in the exchange folder")


@pytest.fixture
def exchange(bank, exchange_dir) -> FileExchangeConnector:
    return FileExchangeConnector(exchange_dir, bank_keys=bank.pinned_keys(), timeout=10)


def _statement_for(connector: FileExchangeConnector, batch_id: str, signing_key):
    def find():
        for name, body in connector.poll_statement_files():
            stmt = verify_statement(body, signing_key)
            if stmt.batch_id == batch_id:
                return name, stmt
        return None
    return _until(find)


def test_wage_file_dropped_in_outgoing_is_paid_and_its_statement_appears_in_incoming(bank, exchange, platform_keys):
    keys = bank.pinned_keys()
    assert keys.current.to_dict()["signing"] == fetch_bank_keys(bank.url).to_dict()["signing"]
    assert isinstance(exchange, BankConnector)
    batch_id = new_batch_id()
    envelope = sealed(batch_id, platform_keys, keys, people=(OPEN_CARD, CLOSED_CARD))
    result = exchange.submit_wage_file(batch_id, envelope, f"{batch_id}-submit")
    assert (result.accepted, result.duplicate) == (True, False)
    assert (exchange.outgoing / f"{batch_id}.wage.json").read_bytes() == envelope

    receipt = _until(lambda: exchange.receipt(batch_id))
    assert (receipt.accepted, receipt.code) == (True, "")
    name, stmt = _statement_for(exchange, batch_id, keys.signing)
    assert name == f"{stmt.statement_id}.stmt.json"
    assert [(line.status, line.code) for line in stmt.lines] == [("paid", ""), ("failed", "CARD_CLOSED")]

    exchange.ack(stmt.statement_id)
    exchange.ack(stmt.statement_id)  # twice is harmless
    assert all(verify_statement(b, keys.signing).batch_id != batch_id for b in exchange.poll_statements())
    assert (exchange.incoming / "acked" / name).exists()
    assert bank.connector().batch_status(batch_id)["channel"] == "exchange"


def test_exchange_submission_is_idempotent_and_conflicts_are_refused(bank, exchange, platform_keys):
    keys = bank.pinned_keys()
    batch_id = new_batch_id()
    envelope = sealed(batch_id, platform_keys, keys)
    assert not exchange.submit_wage_file(batch_id, envelope, batch_id).duplicate
    assert exchange.submit_wage_file(batch_id, envelope, batch_id).duplicate
    assert exchange.submit_wage_file(batch_id, sealed(batch_id, platform_keys, keys), batch_id).duplicate
    conflict = exchange.submit_wage_file(batch_id, sealed(batch_id, platform_keys, keys, amounts=[1]), batch_id)
    assert (conflict.accepted, conflict.code) == (False, "BATCH_CONFLICT")
    _statement_for(exchange, batch_id, keys.signing)
    assert bank.connector().batch_status(batch_id)["payments_recorded"] == 1


def test_altered_file_in_outgoing_gets_a_refusal_receipt(bank, exchange, platform_keys):
    keys = bank.pinned_keys()
    batch_id = new_batch_id()
    obj = json.loads(sealed(batch_id, platform_keys, keys))
    raw = bytearray(b64decode(obj["ciphertext"]))
    raw[0] ^= 0x80
    obj["ciphertext"] = b64encode(bytes(raw))
    assert exchange.submit_wage_file(batch_id, canonical_json(obj), batch_id).accepted  # handed over …
    receipt = _until(lambda: exchange.receipt(batch_id))
    assert (receipt.accepted, receipt.code) == (False, "BAD_SIGNATURE")  # … and refused by the bank
    assert bank.connector().batch_status(batch_id) is None


@pytest.mark.parametrize("number, name, code", [
    (PAYER_ACCOUNT, PAYER_NAME, ""),
    (PAYER_ACCOUNT, "别人", "NAME_MISMATCH"),
])
def test_account_check_through_the_exchange_folder(exchange, number, name, code):
    result = exchange.validate_account(AccountCheck(number, name, f"bind-{code or 'ok'}-{time.monotonic_ns()}"))
    assert (result.ok, result.code) == (code == "", code)
    leftovers = [p.name for p in exchange.outgoing.glob("*.acct.json")] + \
                [p.name for p in exchange.incoming.glob("*.acct-result.json")]
    assert leftovers == []


@pytest.mark.parametrize("holder, code", [
    (OPEN_CARD, ""), (CLOSED_CARD, "CLOSED"), (UNKNOWN_CARD, "NOT_FOUND"), (NAME_MISMATCH, "NAME_MISMATCH"),
])
def test_card_check_through_the_exchange_folder(exchange, holder, code):
    name, number = holder
    result = exchange.validate_account(AccountCheck(number, name, f"card-{code or 'ok'}-{time.monotonic_ns()}",
                                                    kind="card"))
    assert (result.ok, result.code) == (code == "", code)
    assert list(exchange.outgoing.glob("*.acct.json")) == list(exchange.incoming.glob("*.acct-result.json")) == []


def test_account_check_without_a_bank_is_unavailable(tmp_path):
    connector = FileExchangeConnector(tmp_path, timeout=0.3)
    with pytest.raises(BankUnavailable):
        connector.validate_account(AccountCheck(PAYER_ACCOUNT, PAYER_NAME, "k-1"))
    assert connector.poll_statements() == [] and connector.receipt("B-1") is None


def test_files_appear_whole_and_exclusive_creation_keeps_the_first(tmp_path):
    path = tmp_path / "a.json"
    assert create_exclusive(path, b"first")
    assert not create_exclusive(path, b"second")
    assert path.read_bytes() == b"first"
    write_atomic(path, b"third")
    assert path.read_bytes() == b"third"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary files left behind



def test_an_account_answer_planted_in_incoming_counts_for_nothing(exchange, tmp_path):
    """The folder carries no trust: an answer signed by anyone but a pinned bank key is passed over,
    and the bank's own answer is the one taken."""
    from bank_connectors.exchange import ACCOUNT_RESULT_DOMAIN, ACCOUNT_RESULT_SUFFIX, account_request_stem
    from bank_connectors.keys import load_or_create_keys
    from bank_connectors.signing import sign_document

    attacker = load_or_create_keys(tmp_path / "attacker")
    key = f"bind-planted-{time.monotonic_ns()}"
    number = "6222029999999999999"  # not in the bank's ledger
    forged = {"type": "account-check-result", "idempotency_key": key, "account_number": number,
              "ok": True, "code": "", "reason": ""}
    write_atomic(exchange.incoming / (account_request_stem(key) + ACCOUNT_RESULT_SUFFIX),
                 canonical_json(sign_document(forged, attacker.signing, ACCOUNT_RESULT_DOMAIN)))
    result = exchange.validate_account(AccountCheck(number, PAYER_NAME, key))
    assert (result.ok, result.code) == (False, "NOT_FOUND")
