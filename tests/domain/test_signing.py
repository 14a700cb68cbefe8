"""Security password, sealed signing keys and signed wage-step chains (PAY-1, SEC-4).

Database tests use `any_db_services`, so they run on MySQL/MariaDB too when configured. The real
scrypt parameters are used (about 120 ms per seal or unlock).
"""
from __future__ import annotations

import base64
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from domain import signing
from domain.models import (
    Account,
    AuditLog,
    SecurityPasswordState,
    WageAccount,
    WageRun,
    WageStepSignature,
    utcnow,
)
from domain.passwords import hash_password
from domain.signing import SecurityPasswordError, SignatureError

PASSWORD = "Sign2026pay"
NEW_PASSWORD = "Sign2027pay"
LOGIN_PASSWORD = "Login2026!"
CONTENT = "ab" * 32
DOCS = Path(__file__).resolve().parents[2] / "docs" / "signing.md"


# ---- helpers -------------------------------------------------------------------------------------


def new_specialist(svc, username: str = "payroll1") -> int:
    with svc.Session.begin() as session:
        account = Account(username=username, display_name=f"工资专员 {username}",
                          password_hash=hash_password(LOGIN_PASSWORD), role="payroll_specialist")
        session.add(account)
        session.flush()
        return account.id


def specialist_with_password(svc, username: str = "payroll1", password: str = PASSWORD) -> int:
    account_id = new_specialist(svc, username)
    with svc.Session.begin() as session:
        signing.set_security_password(session, account_id, password)
    return account_id


def new_run(svc, month: str = "2026-05") -> int:
    with svc.Session.begin() as session:
        project_id = session.scalar(select(Account.project_id).where(Account.username == "project"))
        wage_account = WageAccount(project_id=project_id, bank_code="TESTBANK", account_number_enc="x",
                                   account_number_hash="0" * 64, account_last4="0001", account_name="专户")
        session.add(wage_account)
        session.flush()
        run = WageRun(project_id=project_id, month=month, workflow_id=f"wage-run-{project_id}-{month}",
                      wage_account_id=wage_account.id)
        session.add(run)
        session.flush()
        return run.id


def sign_step(unlocked, run_id: int, step: str, prev: str | None, signed_at: datetime | None = None,
              content: str = CONTENT) -> tuple[str, str]:
    document = signing.step_document(run_id=run_id, step=step, content_sha256=content,
                                     actor_id=unlocked.account_id, signed_at=signed_at or utcnow(),
                                     prev_signature=prev)
    return document, signing.sign(unlocked, document)


def last_signature(svc, run_id: int) -> str | None:
    with svc.Session() as session:
        return session.scalar(select(WageStepSignature.signature).where(WageStepSignature.run_id == run_id)
                              .order_by(WageStepSignature.id.desc()).limit(1))


def append_step(svc, unlocked, run_id: int, step: str, signed_at: datetime | None = None) -> str:
    document, signature = sign_step(unlocked, run_id, step, last_signature(svc, run_id), signed_at)
    with svc.Session.begin() as session:
        signing.record_signature(session, run_id=run_id, step=step, document=document, signature_hex=signature,
                                 signing_key_id=unlocked.key_id, actor_id=unlocked.account_id)
    return signature


def record(svc, unlocked, run_id: int, step: str, document: str, signature: str, *, key_id=None, actor_id=None):
    with svc.Session.begin() as session:
        signing.record_signature(session, run_id=run_id, step=step, document=document, signature_hex=signature,
                                 signing_key_id=key_id or unlocked.key_id, actor_id=actor_id or unlocked.account_id)


def audit_actions(svc, account_id: int) -> list[str]:
    with svc.Session() as session:
        return list(session.scalars(select(AuditLog.action).where(
            AuditLog.target_type == "account", AuditLog.target_id == str(account_id)).order_by(AuditLog.id)))


def password_state(svc, account_id: int) -> SecurityPasswordState:
    with svc.Session() as session:
        return session.get(SecurityPasswordState, account_id)


def chain_rows(svc, run_id: int) -> list[WageStepSignature]:
    with svc.Session() as session:
        return list(session.scalars(select(WageStepSignature).where(WageStepSignature.run_id == run_id)
                                    .order_by(WageStepSignature.id)))


def chain_problems(svc, run_id: int, **kwargs) -> list[str]:
    with svc.Session() as session:
        return signing.verify_chain(session, run_id, **kwargs)


def wrong_attempt(svc, account_id: int) -> SecurityPasswordError:
    with pytest.raises(SecurityPasswordError) as caught:
        signing.unlock(svc.Session, account_id, "Wrong2026pay")
    return caught.value


# ---- security password and sealed key -----------------------------------------------------------


def test_set_security_password_then_unlock_gives_the_key_and_nothing_stored_reveals_it(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)

    unlocked = signing.unlock(svc.Session, account_id, PASSWORD)

    with svc.Session() as session:
        (key,) = signing.public_key_history(session, account_id)
        audit_text = " ".join(str(v) for row in session.scalars(select(AuditLog)) for v in vars(row).values())
    assert (unlocked.key_id, unlocked.account_id, unlocked.public_key_hex) == (key.id, account_id, key.public_key)
    assert signing.public_key_hex(unlocked.private_key) == key.public_key and key.retired_at is None
    assert audit_actions(svc, account_id) == ["security_password.set"]

    blob = json.loads(key.sealed_private_key)
    assert blob["v"] == 1 and blob["kdf"] == "scrypt" and (blob["n"], blob["r"], blob["p"]) == (2**15, 8, 1)
    assert len(base64.b64decode(blob["salt"])) == 16 and len(base64.b64decode(blob["nonce"])) == 12
    raw = unlocked.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
    forms = [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    for text in (key.sealed_private_key, audit_text, repr(unlocked)):
        assert PASSWORD not in text
        assert not any(form in text for form in forms)
    assert raw not in key.sealed_private_key.encode("latin-1") and raw not in base64.b64decode(blob["ct"])
    assert "private_key" not in repr(unlocked)


def test_sealed_key_does_not_open_for_another_account_or_key():
    private_key = Ed25519PrivateKey.generate()
    public = signing.public_key_hex(private_key)
    sealed = signing.seal_private_key(private_key, PASSWORD, account_id=7)

    assert signing.public_key_hex(signing.unseal_private_key(sealed, PASSWORD, 7, public)) == public
    assert signing.unseal_private_key(sealed, PASSWORD, 8, public) is None  # AAD binds the account
    assert signing.unseal_private_key(sealed, "Other2026pay", 7, public) is None


def test_weak_same_as_login_repeated_and_missing_passwords_are_refused(any_db_services):
    svc = any_db_services
    account_id = new_specialist(svc)
    with svc.Session() as session:
        login_hash = session.get(Account, account_id).password_hash

    for password, code, problems in [
        ("k7q2x9", "weak", ("too_short",)),
        ("onlyletters", "weak", ("letters_and_digits",)),
        (LOGIN_PASSWORD, "same_as_login", ("same_as_login",)),
    ]:
        with svc.Session.begin() as session, pytest.raises(SecurityPasswordError) as caught:
            signing.set_security_password(session, account_id, password, login_password_hash=login_hash)
        assert (caught.value.code, caught.value.problems) == (code, problems)
    with pytest.raises(SecurityPasswordError) as caught:
        signing.unlock(svc.Session, account_id, PASSWORD)
    assert caught.value.code == "not_set"

    with svc.Session.begin() as session:
        signing.set_security_password(session, account_id, PASSWORD, login_password_hash=login_hash)
    with svc.Session.begin() as session, pytest.raises(SecurityPasswordError) as caught:
        signing.set_security_password(session, account_id, NEW_PASSWORD)
    assert caught.value.code == "already_set"
    with svc.Session() as session:
        assert len(signing.public_key_history(session, account_id)) == 1


def test_wrong_passwords_count_and_a_right_one_resets_the_count(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)

    assert [(e.code, e.remaining_attempts) for e in (wrong_attempt(svc, account_id), wrong_attempt(svc, account_id))] \
        == [("wrong", 4), ("wrong", 3)]
    assert password_state(svc, account_id).failed_count == 2
    signing.unlock(svc.Session, account_id, PASSWORD)
    assert password_state(svc, account_id).failed_count == 0
    assert wrong_attempt(svc, account_id).remaining_attempts == 4
    with svc.Session() as session:
        details = [json.loads(d) for d in session.scalars(select(AuditLog.detail).where(
            AuditLog.action == "security_password.wrong", AuditLog.target_id == str(account_id)).order_by(AuditLog.id))]
    assert [d["remaining_attempts"] for d in details] == [4, 3, 4]


def test_five_wrong_passwords_lock_out_even_the_right_one_until_the_lock_expires(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)

    errors = [wrong_attempt(svc, account_id) for _ in range(5)]
    assert [(e.code, e.remaining_attempts) for e in errors] == [
        ("wrong", 4), ("wrong", 3), ("wrong", 2), ("wrong", 1), ("locked", 0)]
    assert audit_actions(svc, account_id) == ["security_password.set"] + ["security_password.wrong"] * 5 + [
        "security_password.locked"]
    state = password_state(svc, account_id)
    assert state.failed_count == 5
    assert timedelta(minutes=29) < state.locked_until - utcnow() <= timedelta(minutes=30)

    with pytest.raises(SecurityPasswordError) as caught:
        signing.unlock(svc.Session, account_id, PASSWORD)
    assert caught.value.code == "locked" and caught.value.locked_until == state.locked_until
    assert wrong_attempt(svc, account_id).code == "locked"
    assert password_state(svc, account_id).failed_count == 5  # attempts while locked are not counted

    with svc.Session.begin() as session:
        session.execute(update(SecurityPasswordState).where(SecurityPasswordState.account_id == account_id)
                        .values(locked_until=utcnow() - timedelta(seconds=1)))
    assert signing.unlock(svc.Session, account_id, PASSWORD).account_id == account_id
    state = password_state(svc, account_id)
    assert (state.failed_count, state.locked_until) == (0, None)


def test_concurrent_wrong_passwords_are_all_counted_and_stop_at_the_limit(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)
    barrier = threading.Barrier(8)

    def attempt(_):
        barrier.wait()
        try:
            signing.unlock(svc.Session, account_id, "Wrong2026pay")
        except SecurityPasswordError as error:
            return error.code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))

    assert sorted(codes) == ["locked"] * 4 + ["wrong"] * 4
    state = password_state(svc, account_id)
    assert state.failed_count == 5 and state.locked_until is not None
    assert audit_actions(svc, account_id).count("security_password.wrong") == 5


def test_failed_attempts_survive_the_callers_rolled_back_transaction(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)

    with pytest.raises(RuntimeError), svc.Session.begin() as session:
        session.get(Account, account_id)
        try:
            signing.unlock(session, account_id, "Wrong2026pay")
        except SecurityPasswordError:
            raise RuntimeError("the page fails and its transaction rolls back")
    with pytest.raises(SecurityPasswordError) as caught, svc.Session.begin() as session:
        signing.set_security_password(session, account_id, NEW_PASSWORD, current_password="Wrong2026pay")
    assert (caught.value.code, caught.value.remaining_attempts) == ("wrong", 3)

    assert password_state(svc, account_id).failed_count == 2
    assert audit_actions(svc, account_id).count("security_password.wrong") == 2
    with svc.Session() as session:
        assert len(signing.public_key_history(session, account_id)) == 1


def test_change_makes_a_new_key_and_old_signatures_still_verify(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)
    run_id = new_run(svc)
    old = signing.unlock(svc.Session, account_id, PASSWORD)
    first = append_step(svc, old, run_id, "wage_table")

    with svc.Session.begin() as session:
        new_key = signing.set_security_password(session, account_id, NEW_PASSWORD, current_password=PASSWORD)
    new = signing.unlock(svc.Session, account_id, NEW_PASSWORD)
    append_step(svc, new, run_id, "wage_sheet")

    assert new.key_id == new_key.id != old.key_id and new.public_key_hex != old.public_key_hex
    with svc.Session() as session:
        history = signing.public_key_history(session, account_id)
        assert [k.id for k in history] == [old.key_id, new.key_id]
        assert history[0].retired_at is not None and history[1].retired_at is None
        assert history[0].public_key == old.public_key_hex
        assert json.loads(history[0].sealed_private_key) == {"v": 1, "destroyed": True}
        row = chain_rows(svc, run_id)[0]
        assert row.signature == first and signing.verify(session, old.key_id, row.document, first)
    assert chain_problems(svc, run_id) == []
    assert wrong_attempt(svc, account_id).code == "wrong"  # the old password opens nothing any more
    assert audit_actions(svc, account_id)[:2] == ["security_password.set", "security_password.change"]


def test_tampered_document_or_signature_does_not_verify_and_is_not_recorded(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)
    run_id = new_run(svc)
    unlocked = signing.unlock(svc.Session, account_id, PASSWORD)
    document, signature = sign_step(unlocked, run_id, "wage_table", None)
    altered = document.replace(CONTENT, "cd" * 32)
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")

    with svc.Session() as session:
        assert signing.verify(session, unlocked.key_id, document, signature)
        assert not signing.verify(session, unlocked.key_id, altered, signature)
        assert not signing.verify(session, unlocked.key_id, document, flipped)
        assert not signing.verify(session, unlocked.key_id + 1000, document, signature)
    for doc, sig in [(altered, signature), (document, flipped), (document, "")]:
        with pytest.raises(SignatureError) as caught:
            record(svc, unlocked, run_id, "wage_table", doc, sig)
        assert caught.value.code == "bad_signature"
    assert chain_rows(svc, run_id) == []


def test_steps_signed_with_another_accounts_key_or_for_another_step_are_refused(any_db_services):
    svc = any_db_services
    alice = signing.unlock(svc.Session, specialist_with_password(svc, "alice"), PASSWORD)
    bob = signing.unlock(svc.Session, specialist_with_password(svc, "bob", NEW_PASSWORD), NEW_PASSWORD)
    run_id = new_run(svc)

    # Bob signs a document that names Alice as the actor, and submits it as Alice's step.
    document = signing.step_document(run_id=run_id, step="wage_table", content_sha256=CONTENT,
                                     actor_id=alice.account_id, signed_at=utcnow(), prev_signature=None)
    with pytest.raises(SignatureError) as caught:
        record(svc, bob, run_id, "wage_table", document, signing.sign(bob, document), actor_id=alice.account_id)
    assert caught.value.code == "wrong_actor"

    document, signature = sign_step(alice, run_id, "wage_table", None)
    cases = [
        (dict(step="wage_sheet"), "document_mismatch"),
        (dict(run_id=new_run(svc, "2026-06")), "document_mismatch"),
        (dict(actor_id=bob.account_id, key_id=bob.key_id), "document_mismatch"),
        (dict(key_id=999_999), "unknown_key"),
        (dict(document=document + " "), "document_mismatch"),
    ]
    base = dict(run_id=run_id, step="wage_table", document=document, signature=signature)
    for changes, code in cases:
        with pytest.raises(SignatureError) as caught:
            record(svc, alice, **(base | changes))
        assert caught.value.code == code, changes
    with svc.Session() as session:
        assert session.scalars(select(WageStepSignature)).all() == []


def test_a_step_must_chain_to_the_runs_last_signature(any_db_services):
    svc = any_db_services
    unlocked = signing.unlock(svc.Session, specialist_with_password(svc), PASSWORD)
    run_id = new_run(svc)
    first = append_step(svc, unlocked, run_id, "wage_table")

    for prev, signed_at in [(None, None), ("0" * 128, None), (first, utcnow() - timedelta(hours=1))]:
        document, signature = sign_step(unlocked, run_id, "wage_sheet", prev, signed_at)
        with pytest.raises(SignatureError) as caught:
            record(svc, unlocked, run_id, "wage_sheet", document, signature)
        assert caught.value.code == "broken_chain"
    append_step(svc, unlocked, run_id, "wage_sheet")
    assert [r.step for r in chain_rows(svc, run_id)] == ["wage_table", "wage_sheet"]
    with svc.Session() as session:
        assert [a for a in session.scalars(select(AuditLog.action).where(AuditLog.target_type == "wage_run"))] \
            == ["wage_step.signed"] * 2


def test_a_key_signing_after_its_retirement_is_refused(any_db_services):
    svc = any_db_services
    account_id = specialist_with_password(svc)
    run_id = new_run(svc)
    old = signing.unlock(svc.Session, account_id, PASSWORD)  # e.g. held by a stale page or a thief
    with svc.Session.begin() as session:
        signing.set_security_password(session, account_id, NEW_PASSWORD, current_password=PASSWORD)

    document, signature = sign_step(old, run_id, "wage_table", None, utcnow() + timedelta(seconds=2))
    with svc.Session() as session:
        assert not signing.verify(session, old.key_id, document, signature)
    with pytest.raises(SignatureError) as caught:
        record(svc, old, run_id, "wage_table", document, signature)
    assert caught.value.code == "retired_key"

    with svc.Session.begin() as session:  # smuggled in past record_signature
        session.add(WageStepSignature(run_id=run_id, step="wage_table", document=document, signature=signature,
                                      signing_key_id=old.key_id, actor_id=account_id))
    (problem,) = chain_problems(svc, run_id)
    assert "'wage_table'" in problem and "retired" in problem


def test_chain_verification_finds_altered_removed_and_reordered_steps(any_db_services):
    svc = any_db_services
    unlocked = signing.unlock(svc.Session, specialist_with_password(svc), PASSWORD)
    run_id = new_run(svc)
    steps = ["wage_table", "wage_sheet", "bank_file", "reconcile"]
    signatures = [append_step(svc, unlocked, run_id, step) for step in steps]
    rows = chain_rows(svc, run_id)
    assert chain_problems(svc, run_id) == []
    assert chain_problems(svc, run_id, expected_last_signature=signatures[-1]) == []

    def tampered(values_by_row: dict[int, dict]) -> list[str]:
        with svc.Session.begin() as session:
            for row_id, values in values_by_row.items():
                session.execute(update(WageStepSignature).where(WageStepSignature.id == row_id).values(**values))
        problems = chain_problems(svc, run_id)
        with svc.Session.begin() as session:  # put the original rows back
            for row in rows:
                session.merge(row)
        assert chain_problems(svc, run_id) == []
        return problems

    altered = tampered({rows[1].id: dict(document=rows[1].document.replace(CONTENT, "ef" * 32))})
    assert len(altered) == 1 and "'wage_sheet'" in altered[0] and "does not verify" in altered[0]

    def content(row):
        return dict(step=row.step, document=row.document, signature=row.signature)

    swapped = tampered({rows[1].id: content(rows[2]), rows[2].id: content(rows[1])})
    assert swapped and all("chain is broken" in p for p in swapped)
    assert any("'bank_file'" in p for p in swapped)

    with svc.Session.begin() as session:
        session.delete(session.get(WageStepSignature, rows[1].id))
    removed = chain_problems(svc, run_id)
    assert len(removed) == 1 and "'bank_file'" in removed[0] and "chain is broken" in removed[0]

    with svc.Session.begin() as session:
        session.delete(session.get(WageStepSignature, rows[3].id))
    assert any("removed" in p for p in chain_problems(svc, run_id, expected_last_signature=signatures[-1]))


def test_an_exported_chain_verifies_offline_with_the_snippet_in_the_docs(any_db_services):
    svc = any_db_services
    unlocked = signing.unlock(svc.Session, specialist_with_password(svc), PASSWORD)
    run_id = new_run(svc)
    for step in ["wage_table", "wage_sheet"]:
        append_step(svc, unlocked, run_id, step)
    with svc.Session() as session:
        chain = json.loads(json.dumps(signing.export_chain(session, run_id)))
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)
    verify_run = namespace["verify_run"]
    trusted_keys = {unlocked.key_id: unlocked.public_key_hex}

    assert verify_run(chain, trusted_keys) == [] == signing.check_exported_chain(chain)
    assert verify_run(chain | {"signatures": chain["signatures"][1:]}, trusted_keys)  # first step removed
    assert verify_run(chain, {unlocked.key_id: "00" * 32})  # a key the verifier does not trust
    chain["signatures"][0]["document"] = chain["signatures"][0]["document"].replace(CONTENT, "00" * 32)
    assert verify_run(chain, trusted_keys) and signing.check_exported_chain(chain)


# ---- the canonical document ----------------------------------------------------------------------


def test_step_document_is_canonical_json_with_utc_time():
    signed_at = datetime(2026, 5, 31, 16, 30, 5, 123456, tzinfo=timezone(timedelta(hours=8)))
    document = signing.step_document(run_id=12, step="wage_table", content_sha256=CONTENT, actor_id=3,
                                     signed_at=signed_at, prev_signature=None)

    assert document == (
        '{"actor_id":3,"content_sha256":"' + CONTENT + '","kind":"shiming.wage_step","prev_signature":null,'
        '"run_id":12,"signed_at":"2026-05-31T08:30:05Z","step":"wage_table","v":1}'
    )
    assert document == signing.step_document(run_id=12, step="wage_table", content_sha256=CONTENT, actor_id=3,
                                             signed_at=datetime(2026, 5, 31, 8, 30, 5), prev_signature=None)
    for bad in [dict(content_sha256="AB" * 32), dict(content_sha256="ab"), dict(prev_signature="xyz"), dict(step="")]:
        with pytest.raises(ValueError):
            signing.step_document(**(dict(run_id=12, step="wage_table", content_sha256=CONTENT, actor_id=3,
                                          signed_at=signed_at, prev_signature=None) | bad))


@settings(max_examples=50, deadline=None)
@given(
    run_id=st.integers(1, 2**53), actor_id=st.integers(1, 2**31), step=st.text(min_size=1, max_size=20),
    content=st.binary(min_size=32, max_size=32), signed_at=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)),
    prev=st.none() | st.binary(min_size=64, max_size=64),
)
def test_step_documents_parse_back_and_nothing_else_parses(run_id, actor_id, step, content, signed_at, prev):
    document = signing.step_document(run_id=run_id, step=step, content_sha256=content.hex(), actor_id=actor_id,
                                     signed_at=signed_at, prev_signature=prev.hex() if prev else None)
    fields = signing.parse_step_document(document)
    assert (fields["run_id"], fields["step"], fields["actor_id"]) == (run_id, step, actor_id)
    assert fields["signed_at"] == signed_at.replace(microsecond=0)
    assert signing.parse_step_document(json.dumps(json.loads(document), sort_keys=True)) is None  # spaces
    assert signing.parse_step_document(document[:-1] + ',"extra":1}') is None
