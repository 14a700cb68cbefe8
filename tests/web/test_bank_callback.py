"""The bank's statement callback trusts only the pinned key file (SHIMING_BANK_KEYS_FILE), re-read
when it changes; without one it takes nothing (503: the bank retries). The cases against the real
reference bank and worker are in tests/e2e/test_bank_trust.py."""
from __future__ import annotations

import os

from sqlalchemy import func, select

from bank_connectors.keys import PinnedBankKeys, PinnedKey, load_or_create_keys, write_public_key_file
from bank_connectors.wagefile import Statement, StatementLine, sign_statement
from domain.models import AuditLog, BankStatement
from tests.helpers.fakes import FakeBridge
from web import create_app


def _statement(key) -> bytes:
    return sign_statement(Statement("ST-CALLBACK-1", "WR99999999V001", issued_at="2026-12-01T00:00:00Z", lines=[
        StatementLine(1, "paid", 100, paid_at="2026-12-01T00:00:00Z")]), key)


def _count(services, model, *where) -> int:
    with services.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_without_pinned_keys_no_statement_is_taken(services, tmp_path):
    services.settings.bank_keys_file = ""
    client = create_app(services, FakeBridge(), {"TESTING": True}).test_client()
    bank = load_or_create_keys(tmp_path / "bank")
    response = client.post("/api/bank/statements", data=_statement(bank.signing), content_type="application/json")
    assert response.status_code == 503 and response.get_json()["error"] == "BANK_KEYS_NOT_CONFIGURED"
    assert _count(services, BankStatement) == 0


def test_the_pinned_file_is_reread_when_it_changes(services, tmp_path):
    old, new = load_or_create_keys(tmp_path / "old").public(), load_or_create_keys(tmp_path / "new")
    path = tmp_path / "bank-keys.json"
    write_public_key_file(path, PinnedBankKeys.single(old, "bank-2025"))
    services.settings.bank_keys_file = str(path)
    client = create_app(services, FakeBridge(), {"TESTING": True}).test_client()
    body = _statement(new.signing)
    refused = _count(services, AuditLog, AuditLog.action == "bank_statement.refused")

    response = client.post("/api/bank/statements", data=body, content_type="application/json")
    assert (response.status_code, response.get_json()["error"]) == (400, "bad_signature")

    # the operator adds the bank's new key set (rotation overlap); no restart
    write_public_key_file(path, PinnedBankKeys((PinnedKey("bank-2025", old.signing, old.encryption),
                                                PinnedKey("bank-2026", new.public().signing,
                                                          new.public().encryption)), "bank-2026"))
    os.utime(path, ns=(2, 2))
    response = client.post("/api/bank/statements", data=body, content_type="application/json")
    assert (response.status_code, response.get_json()["error"]) == (400, "unknown_batch")  # past the signature
    assert _count(services, AuditLog, AuditLog.action == "bank_statement.refused") == refused + 2
