"""The bank is trusted only through keys provisioned out of band (issue 8, point 9), across real
processes: Temporal dev server, worker, web app (the statement callback) and two reference banks
(`shiming bank`): the genuine one, whose public key file the platform pins (SHIMING_BANK_KEYS_FILE),
and an impostor with keys of its own.

- An impostor at the bank's address gets no wage file it can open, and its statements are refused.
- Malformed bodies of any shape on the callback: 400 and an audit row, never a 500.
- A statement must account for its whole batch; a second, different one is a conflict (audited,
  a task for the payroll specialists); an identical re-delivery is a harmless duplicate.
- verify-run compares the lines with the stored statements.
- A statement refused when it is applied is recorded, the run waits on, and the bank's valid
  statement completes it (history recorded with SHIMING_RECORD_HISTORIES=1).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from temporalio.client import WorkflowUpdateFailedError

from bank_connectors.http import HttpBankConnector
from bank_connectors.keys import load_or_create_keys, load_pinned_bank_keys
from bank_connectors.signing import canonical_json, public_hex, sign_document
from bank_connectors.wagefile import (STATEMENT_DOMAIN, Statement, StatementLine, parse_envelope, sign_statement,
                                      verify_statement)
from domain.models import (AuditLog, BankBatch, BankStatement, HumanTask, Notification, StoredFile, WageLine,
                           WageLineStatus, WageRun)
from shiming.verify_run import verify_run
from tests.helpers.stack import run_in_thread, start_wage_stack
from tests.helpers.wage_run_processes import (
    line_rows, open_ledger, post_statement, run_result, run_status, through_wage_file,
)
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import StatementArrived

pytestmark = pytest.mark.slow

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"
PAY_DELAY = 0.2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("bank_trust")
    ledgers = []

    def ledger_of(services):
        ledgers.append(open_ledger(services))
        return ledgers[0]

    def impostor(s):
        """A second `shiming bank` with keys of its own, not pinned, knowing the same accounts."""
        s.impostor_home = home.parent / f"{home.name}-impostor"
        _proc, s.impostor_url = s.start_bank(
            ledgers[0], "--callback-url", f"{s.web_url}/api/bank/statements", "--platform-key", s.platform_key(),
            "--retry-cap", "0.5", name="impostor", home=s.impostor_home, pin=False)

    s = start_wage_stack(home, ledger_of, "--retry-cap", "0.5", "--pay-delay", str(PAY_DELAY), before_worker=impostor)
    s.bank_db = s.bank_home / "bank.db"
    yield s
    s.stop()


def _audits(stack, action: str, business_key: str | None = None) -> list[AuditLog]:
    with stack.services.Session() as session:
        q = select(AuditLog).where(AuditLog.action == action)
        if business_key is not None:
            q = q.where(AuditLog.business_key == business_key)
        return list(session.scalars(q.order_by(AuditLog.id)))


def _detail(row: AuditLog) -> dict:
    return json.loads(row.detail) if isinstance(row.detail, str) else row.detail


def _bank_signing_key(home: Path):
    return load_or_create_keys(home / "keys").signing


def _batch(stack, run_id: int, version: int = 1) -> BankBatch:
    with stack.services.Session() as session:
        return session.scalar(select(BankBatch).where(BankBatch.run_id == run_id, BankBatch.version == version))


def _complete_statement(stack, batch: BankBatch, statement_id: str, key) -> bytes:
    """A statement paying every line of `batch` as sent, signed by `key`."""
    with stack.services.Session() as session:
        sent = session.execute(select(WageLine.file_seq, WageLine.net_fen).where(
            WageLine.run_id == batch.run_id, WageLine.batch_version == batch.version)
            .order_by(WageLine.file_seq)).all()
    return sign_statement(Statement(statement_id, batch.batch_id, issued_at="2026-12-01T08:00:00Z", lines=[
        StatementLine(seq, "paid", fen, paid_at="2026-12-01T08:00:00Z") for seq, fen in sent]), key)


def test_an_impostor_at_the_bank_address_gets_nothing_it_can_open_and_is_not_believed(stack):
    stack.kill_worker()
    stack.extra_env["SHIMING_BANK_URL"] = stack.impostor_url  # someone else answers at the bank's address
    stack.start_worker()
    try:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            through_wage_file(stack, "2026-02")
        assert "BankRefused" in repr(refused.value.cause) + repr(refused.value.cause.cause)
    finally:
        stack.kill_worker()
        stack.extra_env["SHIMING_BANK_URL"] = stack.bank_url
        stack.start_worker()
    with stack.services.Session() as session:
        run_id = session.scalar(select(WageRun.id).where(WageRun.month == "2026-02"))
        batch = session.scalar(select(BankBatch).where(BankBatch.run_id == run_id))
        envelope = stack.services.blobs.get(session.get(StoredFile, batch.file_id).sha256)
    # the wage file was sealed to the pinned key, not to the key the impostor publishes
    pinned = load_pinned_bank_keys(stack.pinned_bank_keys)
    impostor_keys = load_or_create_keys(stack.impostor_home / "keys").public()
    recipient = parse_envelope(envelope)["recipient"]
    assert recipient == public_hex(pinned.encryption) != public_hex(impostor_keys.encryption)
    assert HttpBankConnector(stack.impostor_url).batch_status(batch.batch_id) is None  # it could not open it

    # the impostor's statement for that batch, complete and well-formed, is refused and audited
    before = line_rows(stack, run_id)
    refusals = len(_audits(stack, "bank_statement.refused"))
    body = _complete_statement(stack, batch, "ST-IMPOSTOR0001", _bank_signing_key(stack.impostor_home))
    status, answer = post_statement(stack, body)
    assert (status, answer.get("error")) == (400, "bad_signature"), answer
    rows = _audits(stack, "bank_statement.refused")
    assert len(rows) == refusals + 1
    assert _detail(rows[-1])["signer"] == public_hex(impostor_keys.signing)[:16]
    assert line_rows(stack, run_id) == before
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)
                              .where(BankStatement.batch_id == batch.batch_id)) == 0


def _signed(doc: dict, key) -> bytes:
    return canonical_json(sign_document(doc, key, STATEMENT_DOMAIN))


def _malformed_bodies(stack) -> dict[str, bytes]:
    key = _bank_signing_key(stack.bank_home)
    signer = public_hex(key.public_key())
    return {
        "deep-array": b"[" * 200_000 + b"]" * 200_000,
        "deep-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "deep-inside-a-signed-shape": b'{"signature": "AA==", "signer": "' + signer.encode() + b'", "lines": '
                                      + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "huge-integer": b'{"signature": "AA==", "signer": "' + signer.encode() + b'", "line_count": '
                        + b"9" * 100_000 + b"}",
        "huge-float": b'{"signature": "AA==", "signer": "' + signer.encode() + b'", "paid_fen": 1e999}',
        "nan": b'{"signature": "AA==", "signer": "' + signer.encode() + b'", "paid_fen": NaN}',
        "wrong-types-unsigned": b'{"signature": 5, "signer": [], "lines": "x", "batch_id": {}}',
        "wrong-types-signed": _signed({"version": 1, "type": "statement", "statement_id": 7, "batch_id": ["x"],
                                       "issued_at": None, "line_count": "1", "paid_count": {}, "paid_fen": [],
                                       "failed_count": True, "failed_fen": "0", "lines": {"seq": 1}}, key),
        "line-of-wrong-types-signed": _signed({
            "version": 1, "type": "statement", "statement_id": "ST-X", "batch_id": "WR00000001V001",
            "issued_at": "2026-12-01T00:00:00Z", "line_count": 1, "paid_count": 1, "paid_fen": 1,
            "failed_count": 0, "failed_fen": 0,
            "lines": [{"seq": [1], "status": 1, "amount_fen": "1", "code": None, "reason": {}, "paid_at": 0}]}, key),
        "array": b"[]",
        "string": b'"statement"',
        "null": b"null",
        "number": b"42",
        "not-utf8": b"\xff\xfe{\x00",
        "not-utf8-in-a-string": b'{"signature": "\xc3\x28", "signer": "x"}',
        "not-json": b"<statement/>",
        "empty": b"",
    }


def test_malformed_bodies_on_the_callback_get_400_and_an_audit_row_never_a_500(stack):
    bodies = _malformed_bodies(stack)
    for name, body in bodies.items():
        before = len(_audits(stack, "bank_statement.refused"))
        status, answer = post_statement(stack, body)
        assert status == 400, (name, status, answer)
        assert len(_audits(stack, "bank_statement.refused")) == before + 1, name
    assert "Traceback" not in (stack.home / "web.log").read_text(errors="replace")


def _resigned(body: bytes, key, *, lines=None, **changes) -> bytes:
    doc = json.loads(body)
    stmt = Statement(changes.get("statement_id", doc["statement_id"]), doc["batch_id"],
                     issued_at=changes.get("issued_at", doc["issued_at"]),
                     lines=lines if lines is not None else [StatementLine(**x) for x in doc["lines"]])
    return sign_statement(stmt, key)


@pytest.fixture(scope="module")
def paid_batch(stack) -> dict:
    """A run of 2026-03 paid in one batch; its stored statement, the lines the bank signed, the run's
    lines, and a buggy bank's key (the bank's own, signing wrong statements)."""
    run_id, workflow_id = through_wage_file(stack, "2026-03")
    final = run_result(stack, workflow_id)
    batch = _batch(stack, run_id)
    with stack.services.Session() as session:
        row = session.scalar(select(BankStatement).where(BankStatement.batch_id == batch.batch_id))
    body = stack.services.blobs.get(row.body_sha256)
    return {"run_id": run_id, "workflow_id": workflow_id, "final": final, "batch": batch, "body": body,
            "key": _bank_signing_key(stack.bank_home),
            "lines": verify_statement(body, load_pinned_bank_keys(stack.pinned_bank_keys)).lines,
            "before": line_rows(stack, run_id)}


def test_a_statement_must_account_for_its_whole_batch(stack, paid_batch):
    final, body, key, lines = paid_batch["final"], paid_batch["body"], paid_batch["key"], paid_batch["lines"]
    workflow_id = paid_batch["workflow_id"]
    assert final.paid_lines == final.line_count == 6

    def raised(line, fen):
        return StatementLine(line.seq, line.status, line.amount_fen + fen, line.code, line.reason, line.paid_at)

    extra = StatementLine(len(lines) + 1, "paid", 100, paid_at=lines[0].paid_at)
    partial = {
        "a line missing": _resigned(body, key, lines=lines[:-1], statement_id="ST-PARTIAL-1"),
        "a line too many": _resigned(body, key, lines=lines + [extra], statement_id="ST-PARTIAL-2"),
        "another total": _resigned(body, key, lines=[raised(lines[0], 100)] + lines[1:], statement_id="ST-PARTIAL-3"),
        "amounts moved between lines": _resigned(
            body, key, lines=[raised(lines[0], 100), raised(lines[1], -100)] + lines[2:], statement_id="ST-PARTIAL-4"),
    }
    for name, partial_body in partial.items():
        refused = len(_audits(stack, "bank_statement.refused", workflow_id))
        status, answer = post_statement(stack, partial_body)
        assert (status, answer.get("error")) == (400, "incomplete"), (name, answer)
        assert len(_audits(stack, "bank_statement.refused", workflow_id)) == refused + 1, name
    assert line_rows(stack, paid_batch["run_id"]) == paid_batch["before"]


def test_a_second_different_statement_is_a_conflict_audited_with_a_task(stack, paid_batch):
    body, key, lines = paid_batch["body"], paid_batch["key"], paid_batch["lines"]
    run_id, workflow_id, before = paid_batch["run_id"], paid_batch["workflow_id"], paid_batch["before"]
    # a complete statement, but a second and different one: a conflict, audited, a task opened
    failed_first = [StatementLine(lines[0].seq, "failed", lines[0].amount_fen, "CARD_CLOSED", "closed")] + lines[1:]
    conflicts = {
        "another statement id": _resigned(body, key, lines=failed_first, statement_id="ST-CONFLICT-1"),
        "the same statement id": _resigned(body, key, issued_at="2026-12-02T09:00:00Z"),
    }
    for n, (name, conflicting) in enumerate(conflicts.items(), start=1):
        status, answer = post_statement(stack, conflicting)
        assert (status, answer.get("error")) == (409, "conflict"), (name, answer)
        assert len(_audits(stack, "bank_statement.conflict", workflow_id)) == n, name
        status, _answer = post_statement(stack, conflicting)  # delivered again: no second task
        assert status == 409
        with stack.services.Session() as session:
            tasks = session.scalars(select(HumanTask).where(HumanTask.workflow_id == workflow_id,
                                                            HumanTask.kind == "bank_statement_conflict")).all()
            assert [(t.round, t.status, t.candidate_role, t.district_id) for t in tasks] == [
                (i, "NEW", "payroll_specialist", None) for i in range(1, n + 1)], name  # not the bureau's inbox
            assert session.scalar(select(func.count()).select_from(Notification).where(
                Notification.template == "bank_statement_conflict")) == 2 * n  # both specialists
    assert line_rows(stack, run_id) == before


def test_the_same_statement_again_byte_for_byte_is_a_harmless_duplicate(stack, paid_batch):
    body, batch, final = paid_batch["body"], paid_batch["batch"], paid_batch["final"]
    run_id, workflow_id, before = paid_batch["run_id"], paid_batch["workflow_id"], paid_batch["before"]
    status, answer = post_statement(stack, body)
    assert (status, answer.get("duplicate")) == (200, True), answer
    assert line_rows(stack, run_id) == before
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)
                              .where(BankStatement.batch_id == batch.batch_id)) == 1
    report = verify_run(stack.services, workflow_id)
    assert report.ok, report.problems
    assert report.figures["statements"] == 1 and report.figures["statement_paid_fen"] == final.paid_fen


def test_verify_run_compares_the_lines_with_the_stored_statements(stack):
    with stack.services.Session() as session:
        run_id = session.scalar(select(WageRun.id).where(WageRun.month == "2026-03"))
        workflow_id = session.get(WageRun, run_id).workflow_id
        line_id, seq = session.execute(select(WageLine.id, WageLine.seq).where(
            WageLine.run_id == run_id).order_by(WageLine.seq).limit(1)).one()
    assert verify_run(stack.services, workflow_id).ok
    try:
        with stack.services.Session.begin() as session:  # a paid line turned failed behind the bank's back
            session.execute(update(WageLine).where(WageLine.id == line_id).values(status=WageLineStatus.FAILED))
        report = verify_run(stack.services, workflow_id)
        assert f"line {seq} is failed but the bank's statement says paid" in report.problems, report.problems
        assert "Σ paid by the bank's statements differs from Σ paid lines" in report.problems
    finally:
        with stack.services.Session.begin() as session:
            session.execute(update(WageLine).where(WageLine.id == line_id).values(status=WageLineStatus.PAID))
    assert verify_run(stack.services, workflow_id).ok


def test_a_statement_refused_when_applied_is_recorded_and_the_next_one_completes_the_run(stack):
    run_id, workflow_id = through_wage_file(stack, "2026-04")
    bogus = "ST-" + "b" * 32  # never stored: refused when the worker applies it

    async def signal():
        client = await stack.client()
        await client.get_workflow_handle(workflow_id).signal(WageRunWorkflow.statement_arrived,
                                                             StatementArrived(bogus))
    run_in_thread(signal)
    final = run_result(stack, workflow_id)  # the bank's statement arrives after it and completes the run
    assert final.paid_lines == final.line_count == 6 and final.open_lines == 0
    view = run_status(stack, workflow_id)
    assert view.step == "completed" and view.refused_statements == [bogus]
    rows = _audits(stack, "bank_statement.refused_at_apply", workflow_id)
    assert [(_detail(r)["statement_id"], _detail(r)["code"]) for r in rows] == [(bogus, "UnknownStatement")]
    with stack.services.Session() as session:
        assert session.get(WageRun, run_id).status == "completed"
    assert verify_run(stack.services, workflow_id).ok

    async def history():
        client = await stack.client()
        return (await client.get_workflow_handle(workflow_id).fetch_history()).to_json()
    recorded = run_in_thread(history)
    assert "EVENT_TYPE_MARKER_RECORDED" in recorded  # the patch marker (its payload is encrypted)
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / "wage_run_statement_refused_then_completed.json").write_text(recorded)


def test_the_run_page_shows_the_refused_and_conflicting_statements(stack):
    """What was refused or conflicts is in front of the payroll specialist, in business words
    (the page of a run is rendered by the web app on the same database)."""
    from tests.helpers.web_app import enter_session
    from tests.helpers.fakes import FakeBridge
    from web import create_app

    app = create_app(stack.services, FakeBridge(), {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    enter_session(client, stack.services, "payroll_a")
    client.get("/lang/zh_CN")
    with stack.services.Session() as session:
        runs = dict(session.execute(select(WageRun.month, WageRun.id)).all())
    page = client.get(f"/payroll/run/{runs['2026-03']}").get_data(as_text=True)
    assert 'id="statement-problems"' in page
    assert 'data-event="bank_statement.conflict"' in page and 'data-event="bank_statement.refused"' in page
    assert "第二份内容不同的银行回单" in page and "bank_statement" not in page.split('id="statement-problems"')[1]\
        .split("</div>")[0].replace('data-event="bank_statement.', "")
    page = client.get(f"/payroll/run/{runs['2026-04']}").get_data(as_text=True)
    assert 'data-event="bank_statement.refused_at_apply"' in page and "本次发放继续等待银行回单" in page


def test_the_admin_timeline_tells_the_statement_problems_in_business_words(stack):
    from tests.helpers.web_app import enter_session
    from tests.helpers.fakes import FakeBridge
    from web import create_app

    app = create_app(stack.services, FakeBridge(), {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    enter_session(client, stack.services, "admin")
    with stack.services.Session() as session:
        runs = dict(session.execute(select(WageRun.month, WageRun.workflow_id)).all())
    page = client.get(f"/admin/process/{runs['2026-03']}").get_data(as_text=True)
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    assert 'data-event="bank_statement.conflict"' in timeline and "第二份内容不同的银行回单" in timeline
    assert 'data-event="task.open"' not in timeline  # the conflict's task is not a review round
