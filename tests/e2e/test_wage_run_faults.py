"""Faults around a wage run's bank steps, across real processes (Temporal dev server, worker, web app,
reference bank): the worker SIGKILLed after the bank file went out and while statements arrive —
between activities and inside one (step 3: after the bank took the file, before the platform noted
it; step 4: statement lines matched but not committed) — a duplicate statement callback, and
forged statements.

Every card of this module's ledger is open, so each run pays all its lines in one batch (the
duplicate-callback case closes them for its own month, to keep its run open in reconciliation).
One run per month (the workflow id is per project and month).

To kill the worker inside an activity, the worker runs with SHIMING_FAULT_PAUSE=1 and a test arms
a named pause point (activities/liveness.py); the activity heartbeats, so once the worker is gone
it is retried on the restarted worker after the 10-second heartbeat timeout.
"""
from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bank_connectors.http import HttpBankConnector
from domain.models import AuditLog, BankBatch, BankStatement, WageRun
from tests.helpers.stack import start_wage_stack
from tests.helpers.wage_run_processes import (
    RESULT_TIMEOUT, line_rows, open_cards_at_bank, open_ledger, post_statement, run_result, run_status,
    through_wage_file,
)
from tests.helpers.waiting import poll
from domain.processes.wage_run import Step, batch_id_for

pytestmark = pytest.mark.slow

PAY_DELAY = 0.15  # seconds per line at the bank: the statement comes a moment after the bank file


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_wage_stack(tmp_path_factory.mktemp("wage_faults"), open_ledger, "--retry-cap", "0.5",
                         "--pay-delay", str(PAY_DELAY), worker_env={"SHIMING_FAULT_PAUSE": "1"})
    s.bank_db = s.bank_home / "bank.db"
    yield s
    s.stop()


def _bank_statements(stack, batch_id: str) -> int:
    with sqlite3.connect(stack.bank_db) as db:
        return db.execute("SELECT count(*) FROM statement WHERE batch_id = ?", (batch_id,)).fetchone()[0]


def _statement_row(stack, batch_id: str):
    with stack.services.Session() as session:
        return session.scalar(select(BankStatement).where(BankStatement.batch_id == batch_id))


def _assert_paid_once(stack, run_id: int, final) -> None:
    assert final.open_lines == 0 and final.failed_lines == 0
    assert final.paid_lines == final.line_count > 0 and final.paid_fen == final.table_fen
    batch_id = batch_id_for(run_id, 1)
    view = HttpBankConnector(stack.bank_url).batch_status(batch_id)
    assert view is not None and view["payments_recorded"] == final.line_count
    assert view["paid_fen"] == final.paid_fen
    assert HttpBankConnector(stack.bank_url).batch_status(batch_id_for(run_id, 2)) is None
    assert _bank_statements(stack, batch_id) == 1
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankBatch).where(BankBatch.run_id == run_id)) == 1
        assert session.scalar(select(func.count()).select_from(BankStatement)
                              .where(BankStatement.batch_id == batch_id)) == 1
        assert session.get(WageRun, run_id).status == "completed"
    lines = line_rows(stack, run_id)
    assert all(status == "paid" and paid_at is not None and version == 1 for _, status, paid_at, version in lines)


def test_worker_killed_after_bank_file_sent_pays_one_batch(stack):
    run_id, workflow_id = through_wage_file(stack, "2026-09")
    stack.kill_worker()  # right after the bank file went out; no clean shutdown
    batch_id = batch_id_for(run_id, 1)
    assert HttpBankConnector(stack.bank_url).batch_status(batch_id) is not None
    stack.start_worker()

    final = run_result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)
    assert run_status(stack, workflow_id).step == Step.COMPLETED


def test_worker_killed_while_statements_arrive_pays_every_line_once(stack):
    run_id, workflow_id = through_wage_file(stack, "2026-11")
    batch_id = batch_id_for(run_id, 1)
    stack.kill_worker()
    # the statement reaches the web app (and is signalled) while no worker runs
    poll(lambda: _bank_statements(stack, batch_id) == 1, "the bank's statement", timeout=30)
    stored = poll(lambda: _statement_row(stack, batch_id), "the statement callback", timeout=30)
    assert stored.applied_at is None
    assert all(status == "submitted" for _, status, _, _ in line_rows(stack, run_id))
    stack.start_worker()  # the restarted worker applies it

    final = run_result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)


def _arm(stack, point: str):
    armed = stack.home / f"fault-{point}.armed"
    armed.write_text("")
    return armed.with_suffix(".paused")


def _in_background(fn):
    """Run fn on a thread (it blocks on an update the paused worker holds); join with .result()."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return future


def test_worker_killed_inside_bank_submission_sends_one_batch(stack):
    """Step 3: the bank took the file, the worker dies before the platform noted it; the retried
    activity submits the same batch id again, the bank answers 'duplicate', one batch is paid."""
    paused = _arm(stack, "submit_bank_batch.after_bank_call")
    driving = _in_background(lambda: through_wage_file(stack, "2025-02"))
    poll(lambda: paused.exists(), "the worker to pause inside submit_bank_batch", timeout=60)
    with stack.services.Session() as session:
        run_id = session.scalar(select(WageRun.id).where(WageRun.month == "2025-02"))
        batch = session.scalar(select(BankBatch).where(BankBatch.run_id == run_id))
        assert batch.status == "built"  # not noted as submitted ...
    assert HttpBankConnector(stack.bank_url).batch_status(batch.batch_id) is not None  # ... but the bank has it
    stack.kill_worker()
    stack.start_worker()

    _run_id, workflow_id = driving.result(timeout=RESULT_TIMEOUT)
    final = run_result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)


def test_worker_killed_inside_statement_matching_pays_every_line_once(stack):
    """Step 4: the lines were matched in an open transaction when the worker died; the rollback
    leaves them submitted and the retried activity applies the stored statement once."""
    paused = _arm(stack, "apply_statement.before_commit")
    run_id, workflow_id = through_wage_file(stack, "2025-03")
    batch_id = batch_id_for(run_id, 1)
    poll(lambda: paused.exists(), "the worker to pause inside apply_statement", timeout=60)
    stack.kill_worker()
    row = _statement_row(stack, batch_id)
    assert row is not None and row.applied_at is None
    assert all(status == "submitted" for _, status, _, _ in line_rows(stack, run_id))
    stack.start_worker()

    final = run_result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)


def _stored_statement(stack) -> tuple[int, bytes]:
    """A completed run's statement as the bank sent it; runs a month of its own if none was paid yet."""
    with stack.services.Session() as session:
        row = session.scalar(select(BankStatement).where(BankStatement.applied_at.is_not(None)).limit(1))
    if row is None:
        run_id, workflow_id = through_wage_file(stack, "2025-01")
        run_result(stack, workflow_id)
        with stack.services.Session() as session:
            row = session.scalar(select(BankStatement).where(BankStatement.applied_at.is_not(None)).limit(1))
    with stack.services.Session() as session:
        run_id = session.scalar(select(BankBatch.run_id).where(BankBatch.batch_id == row.batch_id))
    return run_id, stack.services.blobs.get(row.body_sha256)


def test_duplicate_statement_callback_changes_nothing(stack):
    # every card closed: the statement fails every line and the run stays in reconciliation
    # (a duplicate for a completed run is answered 500 by the web app: see the report)
    run_id, workflow_id = through_wage_file(stack, "2026-12", cards="closed")
    batch_id = batch_id_for(run_id, 1)
    try:
        state = poll(lambda: (v := run_status(stack, workflow_id)).reconcile and v.reconcile.failed_lines
                      == v.reconcile.line_count and v, "the statement to be applied", timeout=30)
    finally:
        with stack.services.Session() as session:
            open_cards_at_bank(stack, session.get(WageRun, run_id).project_id)
    row = _statement_row(stack, batch_id)
    assert row.applied_at is not None
    body = stack.services.blobs.get(row.body_sha256)
    before = line_rows(stack, run_id)
    with stack.services.Session() as session:
        statements = session.scalar(select(func.count()).select_from(BankStatement))

    status, answer = post_statement(stack, body)
    assert status == 200 and answer.get("duplicate") is True, (status, answer)
    assert answer["statement_id"] == json.loads(body)["statement_id"] == row.statement_id
    assert run_status(stack, workflow_id).reconcile == state.reconcile
    assert line_rows(stack, run_id) == before
    assert all(status == "failed" and paid_at is None for _, status, paid_at, _ in before)
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)) == statements
    assert _bank_statements(stack, batch_id) == 1


def test_forged_statement_is_refused_and_audited(stack):
    run_id, body = _stored_statement(stack)
    before = line_rows(stack, run_id)
    with stack.services.Session() as session:
        statements = session.scalar(select(func.count()).select_from(BankStatement))
        refused = session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "bank_statement.refused"))
    original = json.loads(body)

    altered_amount = json.loads(body)
    altered_amount["lines"][0]["amount_fen"] += 100
    altered_amount["statement_id"] = original["statement_id"][:-4] + "FFFF"  # not mistaken for the stored one
    flipped = original["signature"]
    altered_signature = dict(original, signature=("0" if flipped[0] != "0" else "1") + flipped[1:])
    for forged in (altered_amount, altered_signature):
        status, _answer = post_statement(stack, json.dumps(forged).encode())
        assert status == 400

    assert line_rows(stack, run_id) == before
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)) == statements
        assert session.scalar(select(func.count()).select_from(AuditLog)
                              .where(AuditLog.action == "bank_statement.refused")) == refused + 2
