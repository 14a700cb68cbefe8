"""The file-exchange channel end to end: the worker submits the wage file into the exchange folder,
the reference bank (started with --exchange-dir, no callback) pays and drops its signed statement in
incoming/, and the worker's watcher verifies it, stores it once, signals the run and acknowledges it.
A forged statement file is refused, audited and moved to incoming/rejected/ without touching any
line. The folder carries no trust: a key file planted in incoming/ makes no forged statement count,
and a malformed file is moved aside without holding up the statements after it.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select

from bank_connectors.keys import load_or_create_keys
from bank_connectors.wagefile import Statement, StatementLine, sign_statement
from domain.files import write_atomic
from domain.models import AuditLog, BankStatement, WageLine
from domain.processes.wage_run import SettleLineInput, batch_id_for
from domain.wage_run import sign_step
from tests.helpers.factories import account_id
from tests.helpers.stack import run_in_thread, start_wage_stack
from tests.helpers.wage_run_processes import open_month, open_with_files, run_result, scenario_ledger, send_steps
from tests.helpers.wage_scenario import MONTH, SECURITY_PASSWORDS
from tests.helpers.waiting import poll
from workflows.wage_run import WageRunWorkflow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("exchange")
    s = start_wage_stack(home, scenario_ledger, exchange=home / "exchange")
    s.exchange = home / "exchange"
    yield s
    s.stop()


@pytest.fixture(scope="module")
def reconciled(stack) -> dict:
    """MONTH's run through steps 1-3; the wage file and the bank's statement go through the folder
    and the statement is reconciled: the closed card's line failed."""
    services = stack.services
    run_id, workflow_id, files = open_with_files(services, MONTH)
    send_steps(stack, run_id, workflow_id, files)
    outgoing = list((stack.exchange / "outgoing").glob("*.wage.json"))

    def failed_line():
        with services.Session() as session:
            return session.scalar(select(WageLine).where(WageLine.run_id == run_id, WageLine.status == "failed"))

    line = poll(failed_line, "the statement from the exchange folder to be reconciled", timeout=120)
    return {"run_id": run_id, "workflow_id": workflow_id, "outgoing": outgoing, "failed_line_id": line.id}


def test_the_wage_file_and_the_statement_go_through_the_exchange_folder(stack, reconciled):
    assert reconciled["outgoing"], "the wage file went through the folder"
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)) == 1
    assert not list((stack.exchange / "incoming").glob("*.stmt.json")), "the statement was acknowledged"


def test_a_forged_statement_dropped_into_incoming_is_refused_audited_and_moved_aside(stack, reconciled):
    (stack.exchange / "incoming" / "ST-forged.stmt.json").write_text(json.dumps(
        {"statement_id": "ST-" + "f" * 32, "batch_id": batch_id_for(reconciled["run_id"], 1), "lines": [],
         "signature": "00" * 64}))
    poll(lambda: not (stack.exchange / "incoming" / "ST-forged.stmt.json").exists(), "the forged file to be handled")
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "bank_statement.refused")) == 1
        assert session.scalar(select(func.count()).select_from(BankStatement)) == 1


def test_the_failed_line_settled_with_a_signed_reason_completes_the_run(stack, reconciled):
    services, run_id, line_id = stack.services, reconciled["run_id"], reconciled["failed_line_id"]
    reason = "paid in cash at the site office, receipt 0001"
    actor = account_id(services, "payroll_b")
    signed = sign_step(services.Session, actor, SECURITY_PASSWORDS["payroll_b"], run_id, "settle",
                       hashlib.sha256(f"{line_id}:{reason}".encode()).hexdigest())

    async def settle():
        client = await stack.client()
        handle = client.get_workflow_handle_for(WageRunWorkflow.run, reconciled["workflow_id"])
        await handle.execute_update(WageRunWorkflow.settle_line, SettleLineInput(
            run_id, actor, line_id, reason, signed.document, signed.signature, signed.signing_key_id))
        return await handle.result()

    final = run_in_thread(settle)
    assert final.open_lines == 0 and final.settled_lines == 1 and final.paid_lines == final.line_count - 1


def _steps_with(stack, month: str, before_wage_file) -> tuple[int, str]:
    """Steps 1-3 of a run for `month`; `before_wage_file(run_id)` runs once the batch is built."""
    run_id, workflow_id, files = open_month(stack, month)
    send_steps(stack, run_id, workflow_id, files, before_wage_file)
    return run_id, workflow_id


def _refusals(services) -> int:
    with services.Session() as session:
        return session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "bank_statement.refused"))


def test_a_key_file_planted_in_incoming_makes_no_forged_statement_count(stack, tmp_path):
    services = stack.services
    attacker = load_or_create_keys(tmp_path / "attacker")
    incoming = stack.exchange / "incoming"
    refusals = _refusals(services)
    forged_name = []

    def plant(run_id):
        # the attacker's keys where the bank once published its own, and a statement signed with them
        # that fails every line, dropped before the bank's own can arrive
        write_atomic(incoming / "bank-keys.json", attacker.public().to_json())
        with services.Session() as session:
            sent = session.execute(select(WageLine.file_seq, WageLine.net_fen).where(
                WageLine.run_id == run_id, WageLine.batch_version == 1).order_by(WageLine.file_seq)).all()
        forged = sign_statement(Statement("ST-FORGED-PLANTED", batch_id_for(run_id, 1), issued_at="2026-12-01T08:00:00Z",
                                          lines=[StatementLine(seq, "failed", fen, "CARD_CLOSED", "closed")
                                                 for seq, fen in sent]), attacker.signing)
        write_atomic(incoming / "ST-FORGED-PLANTED.stmt.json", forged)
        forged_name.append("ST-FORGED-PLANTED.stmt.json")

    run_id, workflow_id = _steps_with(stack, "2026-06", plant)
    final = run_result(stack, workflow_id)
    assert final.paid_lines == final.line_count and final.failed_lines == 0  # the bank's own statement
    assert (incoming / "rejected" / forged_name[0]).exists() and not (incoming / forged_name[0]).exists()
    assert _refusals(services) == refusals + 1
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)
                              .where(BankStatement.statement_id == "ST-FORGED-PLANTED")) == 0


POISON = {
    "0-deep.stmt.json": b"[" * 200_000 + b"]" * 200_000,
    "0-not-utf8.stmt.json": b"\xff\xfe\x00{",
    "0-not-json.stmt.json": b"<statement/>",
    "0-array.stmt.json": b"[1, 2, 3]",
    "0-huge-number.stmt.json": b'{"signature": "AA==", "signer": "00", "line_count": ' + b"9" * 100_000 + b"}",
    "0-empty.stmt.json": b"",
}


def test_a_malformed_file_in_incoming_is_moved_aside_and_the_next_statement_is_applied(stack):
    services = stack.services
    incoming = stack.exchange / "incoming"
    refusals = _refusals(services)

    def poison(_run_id):
        for name, body in POISON.items():  # their names sort before the bank's statement
            write_atomic(incoming / name, body)
        (incoming / "0-a-folder.stmt.json").mkdir()  # not even a file

    run_id, workflow_id = _steps_with(stack, "2026-07", poison)
    final = run_result(stack, workflow_id)
    assert final.paid_lines == final.line_count and final.open_lines == 0
    for name in POISON:
        assert (incoming / "rejected" / name).exists() and not (incoming / name).exists(), name
    assert _refusals(services) == refusals + len(POISON)
    assert (incoming / "0-a-folder.stmt.json").is_dir()  # passed over, and held nothing up
