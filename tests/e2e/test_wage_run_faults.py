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

import asyncio
import hashlib
import json
import sqlite3
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bank_connectors.http import HttpBankConnector
from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from domain import wage_table, workforce
from domain.models import (
    Account, AuditLog, BankBatch, BankStatement, Project, ProjectWorker, WageLine, WageRun, Worker,
)
from domain.wage_run import open_run
from shiming.processes import free_port
from shiming.seed_workforce import seed_workforce
from tests.helpers.scan_samples import minimal_pdf
from tests.e2e.test_wage_run_processes import _account, _poll, _prepare_platform_data, _step
from tests.helpers.stack import run_in_thread, start_stack
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import Step, WageRunInput, batch_id_for

pytestmark = pytest.mark.slow

RESULT_TIMEOUT = 60
PAY_DELAY = 0.15  # seconds per line at the bank: the statement comes a moment after the bank file


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("wage_faults")
    s = start_stack(home, web=False, worker=False)
    try:
        bank_port = free_port()
        s.extra_env["SHIMING_BANK_URL"] = f"http://127.0.0.1:{bank_port}"
        s.pin_bank_keys()
        s.start_web()
        platform = load_or_create_keys(s.services.settings.home / "platform_keys")
        ledger = _prepare_platform_data(s.services)
        for card in ledger["cards"]:
            card["status"] = "open"
        _proc, s.bank_url = s.start_bank(ledger, "--callback-url", f"{s.web_url}/api/bank/statements",
                                         "--platform-key", public_hex(platform.signing.public_key()),
                                         "--retry-cap", "0.5", "--pay-delay", str(PAY_DELAY), port=bank_port)
        s.bank_db = s.bank_home / "bank.db"
        s.extra_env["SHIMING_FAULT_PAUSE"] = "1"
        s.start_worker()
    except BaseException:
        print(s.logs())
        s.stop()
        raise
    yield s
    s.stop()


def _open_cards_at_bank(stack, project_id: int, status: str = "open") -> None:
    """Another month's seed may enrol other workers: the bank learns their cards, all open."""
    services = stack.services
    with services.Session() as session:
        workers = session.scalars(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                                  .where(ProjectWorker.project_id == project_id)).all()
        cards = [{"number": workforce.card_number_of(services.cipher, workforce.current_card(session, w.id)),
                  "holder_name": w.name, "status": status} for w in workers]
    req = urllib.request.Request(f"{stack.bank_url}/api/v1/admin/cards", method="POST", data=json.dumps(cards).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def _open(stack, month: str) -> tuple[int, str, tuple]:
    """Seed the month's punches and open its run; returns (run id, workflow id, step-1/2 files)."""
    services = stack.services
    with services.Session() as session:
        project_id = session.scalar(select(Project.id).where(Project.code.like("P%")))
    seed_workforce(services, project_id, workers=6, month=month)
    _open_cards_at_bank(stack, project_id)
    with services.Session.begin() as session:
        run = open_run(session, project_id, month, session.get(Account, _account(services, "payroll_a")))
        run_id, workflow_id = run.id, run.workflow_id
        table = wage_table.prefill_xlsx(session, services.cipher, project_id, month)
        table_id = services.blobs.store(session, table, "application/xlsx", "table.xlsx").id
        sheet_id = services.blobs.store(session, minimal_pdf(), "application/pdf", "sheet.pdf").id
    files = (hashlib.sha256(table).hexdigest(), table_id, hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id)
    return run_id, workflow_id, files


def _through_bank_file(stack, month: str, cards: str = "open") -> tuple[int, str]:
    """Steps 1-3 by updates, the bank file signed by the second specialist; returns when it is sent."""
    services = stack.services
    run_id, workflow_id, (table_sha, table_id, sheet_sha, sheet_id) = _open(stack, month)
    if cards != "open":
        with services.Session() as session:
            _open_cards_at_bank(stack, session.get(WageRun, run_id).project_id, status=cards)

    async def drive():
        client = await stack.client()
        handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                             task_queue=services.settings.task_queue)
        await handle.execute_update(WageRunWorkflow.submit_wage_table,
                                    _step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
        batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet,
                                            _step(services, "payroll_a", run_id, "signed_sheet", sheet_sha, sheet_id))
        await handle.execute_update(WageRunWorkflow.submit_bank_file, _step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))

    run_in_thread(drive)
    return run_id, workflow_id


def _result(stack, workflow_id: str):
    async def result():
        client = await stack.client()
        handle = client.get_workflow_handle_for(WageRunWorkflow.run, workflow_id)
        try:
            return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        except asyncio.TimeoutError:
            print(stack.logs())
            raise
    return run_in_thread(result)


def _status(stack, workflow_id: str):
    async def q():
        client = await stack.client()
        return await client.get_workflow_handle(workflow_id).query(WageRunWorkflow.status)
    return run_in_thread(q)


def _bank_statements(stack, batch_id: str) -> int:
    with sqlite3.connect(stack.bank_db) as db:
        return db.execute("SELECT count(*) FROM statement WHERE batch_id = ?", (batch_id,)).fetchone()[0]


def _statement_row(stack, batch_id: str):
    with stack.services.Session() as session:
        return session.scalar(select(BankStatement).where(BankStatement.batch_id == batch_id))


def _lines(stack, run_id: int) -> list[tuple]:
    with stack.services.Session() as session:
        return [tuple(row) for row in session.execute(
            select(WageLine.seq, WageLine.status, WageLine.paid_at, WageLine.batch_version)
            .where(WageLine.run_id == run_id).order_by(WageLine.seq))]


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
    lines = _lines(stack, run_id)
    assert all(status == "paid" and paid_at is not None and version == 1 for _, status, paid_at, version in lines)


def test_worker_killed_after_bank_file_sent_pays_one_batch(stack):
    run_id, workflow_id = _through_bank_file(stack, "2026-09")
    stack.kill_worker()  # right after the bank file went out; no clean shutdown
    batch_id = batch_id_for(run_id, 1)
    assert HttpBankConnector(stack.bank_url).batch_status(batch_id) is not None
    stack.start_worker()

    final = _result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)
    assert _status(stack, workflow_id).step == Step.COMPLETED


def test_worker_killed_while_statements_arrive_pays_every_line_once(stack):
    run_id, workflow_id = _through_bank_file(stack, "2026-11")
    batch_id = batch_id_for(run_id, 1)
    stack.kill_worker()
    # the statement reaches the web app (and is signalled) while no worker runs
    _poll(lambda: _bank_statements(stack, batch_id) == 1, "the bank's statement", timeout=30)
    stored = _poll(lambda: _statement_row(stack, batch_id), "the statement callback", timeout=30)
    assert stored.applied_at is None
    assert all(status == "submitted" for _, status, _, _ in _lines(stack, run_id))
    stack.start_worker()  # the restarted worker applies it

    final = _result(stack, workflow_id)
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
    driving = _in_background(lambda: _through_bank_file(stack, "2025-02"))
    _poll(lambda: paused.exists(), "the worker to pause inside submit_bank_batch", timeout=60)
    with stack.services.Session() as session:
        run_id = session.scalar(select(WageRun.id).where(WageRun.month == "2025-02"))
        batch = session.scalar(select(BankBatch).where(BankBatch.run_id == run_id))
        assert batch.status == "built"  # not noted as submitted ...
    assert HttpBankConnector(stack.bank_url).batch_status(batch.batch_id) is not None  # ... but the bank has it
    stack.kill_worker()
    stack.start_worker()

    _run_id, workflow_id = driving.result(timeout=RESULT_TIMEOUT)
    final = _result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)


def test_worker_killed_inside_statement_matching_pays_every_line_once(stack):
    """Step 4: the lines were matched in an open transaction when the worker died; the rollback
    leaves them submitted and the retried activity applies the stored statement once."""
    paused = _arm(stack, "apply_statement.before_commit")
    run_id, workflow_id = _through_bank_file(stack, "2025-03")
    batch_id = batch_id_for(run_id, 1)
    _poll(lambda: paused.exists(), "the worker to pause inside apply_statement", timeout=60)
    stack.kill_worker()
    row = _statement_row(stack, batch_id)
    assert row is not None and row.applied_at is None
    assert all(status == "submitted" for _, status, _, _ in _lines(stack, run_id))
    stack.start_worker()

    final = _result(stack, workflow_id)
    _assert_paid_once(stack, run_id, final)


def _stored_statement(stack) -> tuple[int, bytes]:
    """A completed run's statement as the bank sent it; runs a month of its own if none was paid yet."""
    with stack.services.Session() as session:
        row = session.scalar(select(BankStatement).where(BankStatement.applied_at.is_not(None)).limit(1))
    if row is None:
        run_id, workflow_id = _through_bank_file(stack, "2025-01")
        _result(stack, workflow_id)
        with stack.services.Session() as session:
            row = session.scalar(select(BankStatement).where(BankStatement.applied_at.is_not(None)).limit(1))
    with stack.services.Session() as session:
        run_id = session.scalar(select(BankBatch.run_id).where(BankBatch.batch_id == row.batch_id))
    return run_id, stack.services.blobs.get(row.body_sha256)


def _post_statement(stack, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(f"{stack.web_url}/api/bank/statements", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, data = exc.code, exc.read()
    try:
        return status, json.loads(data)
    except ValueError:
        return status, {"raw": data.decode("utf-8", "replace")[:500]}


def test_duplicate_statement_callback_changes_nothing(stack):
    # every card closed: the statement fails every line and the run stays in reconciliation
    # (a duplicate for a completed run is answered 500 by the web app: see the report)
    run_id, workflow_id = _through_bank_file(stack, "2026-12", cards="closed")
    batch_id = batch_id_for(run_id, 1)
    try:
        state = _poll(lambda: (v := _status(stack, workflow_id)).reconcile and v.reconcile.failed_lines
                      == v.reconcile.line_count and v, "the statement to be applied", timeout=30)
    finally:
        with stack.services.Session() as session:
            _open_cards_at_bank(stack, session.get(WageRun, run_id).project_id)
    row = _statement_row(stack, batch_id)
    assert row.applied_at is not None
    body = stack.services.blobs.get(row.body_sha256)
    before = _lines(stack, run_id)
    with stack.services.Session() as session:
        statements = session.scalar(select(func.count()).select_from(BankStatement))

    status, answer = _post_statement(stack, body)
    assert status == 200 and answer.get("duplicate") is True, (status, answer)
    assert answer["statement_id"] == json.loads(body)["statement_id"] == row.statement_id
    assert _status(stack, workflow_id).reconcile == state.reconcile
    assert _lines(stack, run_id) == before
    assert all(status == "failed" and paid_at is None for _, status, paid_at, _ in before)
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)) == statements
    assert _bank_statements(stack, batch_id) == 1


def test_forged_statement_is_refused_and_audited(stack):
    run_id, body = _stored_statement(stack)
    before = _lines(stack, run_id)
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
        status, _answer = _post_statement(stack, json.dumps(forged).encode())
        assert status == 400

    assert _lines(stack, run_id) == before
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)) == statements
        assert session.scalar(select(func.count()).select_from(AuditLog)
                              .where(AuditLog.action == "bank_statement.refused")) == refused + 2
