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

from domain.processes.wage_run import SettleLineInput
from domain.files import write_atomic
from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from bank_connectors.wagefile import Statement, StatementLine, sign_statement
from domain import wage_table
from domain.models import Account, AuditLog, BankStatement, Project, WageLine
from domain.wage_run import open_run, sign_step
from tests.helpers.scan_samples import minimal_pdf
from tests.e2e.test_wage_run_faults import _open, _result
from tests.e2e.test_wage_run_processes import (
    MONTH, SECURITY_PASSWORDS, _account, _poll, _prepare_platform_data, _step,
)
from tests.helpers.stack import run_in_thread, start_stack
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import WageRunInput, batch_id_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("exchange")
    s = start_stack(home, web=False, worker=False)
    try:
        exchange = home / "exchange"
        s.extra_env["SHIMING_BANK_EXCHANGE_DIR"] = str(exchange)
        s.pin_bank_keys()
        platform = load_or_create_keys(s.services.settings.home / "platform_keys")
        _proc, s.bank_url = s.start_bank(_prepare_platform_data(s.services), "--exchange-dir", str(exchange),
                                         "--platform-key", public_hex(platform.signing.public_key()))
        s.exchange = exchange
        s.start_worker()
    except BaseException:
        print(s.logs())
        s.stop()
        raise
    yield s
    s.stop()


def test_wage_run_through_the_exchange_folder(stack):
    services = stack.services
    with services.Session.begin() as session:
        project = session.scalar(select(Project).where(Project.code.like("P%")))
        run = open_run(session, project.id, MONTH, session.get(Account, _account(services, "payroll_a")))
        run_id, workflow_id = run.id, run.workflow_id
        table = wage_table.prefill_xlsx(session, services.cipher, project.id, MONTH)
        table_id = services.blobs.store(session, table, "application/xlsx", "t.xlsx").id
        sheet_id = services.blobs.store(session, minimal_pdf(), "application/pdf", "s.pdf").id

    async def drive():
        client = await stack.client()
        handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                             task_queue=services.settings.task_queue)
        await handle.execute_update(WageRunWorkflow.submit_wage_table, _step(
            services, "payroll_a", run_id, "wage_table", hashlib.sha256(table).hexdigest(), table_id))
        batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet, _step(
            services, "payroll_a", run_id, "signed_sheet", hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id))
        await handle.execute_update(WageRunWorkflow.submit_bank_file, _step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))

    run_in_thread(drive)
    assert list((stack.exchange / "outgoing").glob("*.wage.json")), "the wage file went through the folder"

    def failed_line():
        with services.Session() as session:
            return session.scalar(select(WageLine).where(WageLine.run_id == run_id, WageLine.status == "failed"))

    line = _poll(failed_line, "the statement from the exchange folder to be reconciled", timeout=120)
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankStatement)) == 1
    assert not list((stack.exchange / "incoming").glob("*.stmt.json")), "the statement was acknowledged"

    # a forged statement dropped into incoming/ is refused, audited and moved aside
    (stack.exchange / "incoming" / "ST-forged.stmt.json").write_text(json.dumps(
        {"statement_id": "ST-" + "f" * 32, "batch_id": batch_id_for(run_id, 1), "lines": [], "signature": "00" * 64}))
    _poll(lambda: not (stack.exchange / "incoming" / "ST-forged.stmt.json").exists(), "the forged file to be handled")
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "bank_statement.refused")) == 1
        assert session.scalar(select(func.count()).select_from(BankStatement)) == 1

    # the failed line (closed card) is settled with a signed reason; the run completes
    reason = "paid in cash at the site office, receipt 0001"
    actor = _account(services, "payroll_b")
    signed = sign_step(services.Session, actor, SECURITY_PASSWORDS["payroll_b"], run_id, "settle",
                       hashlib.sha256(f"{line.id}:{reason}".encode()).hexdigest())

    async def settle():
        client = await stack.client()
        handle = client.get_workflow_handle_for(WageRunWorkflow.run, workflow_id)
        await handle.execute_update(WageRunWorkflow.settle_line, SettleLineInput(
            run_id, actor, line.id, reason, signed.document, signed.signature, signed.signing_key_id))
        return await handle.result()

    final = run_in_thread(settle)
    assert final.open_lines == 0 and final.settled_lines == 1 and final.paid_lines == final.line_count - 1


def _steps_with(stack, month: str, before_bank_file) -> tuple[int, str]:
    """Steps 1-3 of a run for `month`; `before_bank_file(run_id)` runs once the batch is built."""
    services = stack.services
    run_id, workflow_id, (table_sha, table_id, sheet_sha, sheet_id) = _open(stack, month)

    async def drive():
        client = await stack.client()
        handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                             task_queue=services.settings.task_queue)
        await handle.execute_update(WageRunWorkflow.submit_wage_table,
                                    _step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
        batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet,
                                            _step(services, "payroll_a", run_id, "signed_sheet", sheet_sha, sheet_id))
        before_bank_file(run_id)
        await handle.execute_update(WageRunWorkflow.submit_bank_file, _step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))

    run_in_thread(drive)
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
    final = _result(stack, workflow_id)
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
    final = _result(stack, workflow_id)
    assert final.paid_lines == final.line_count and final.open_lines == 0
    for name in POISON:
        assert (incoming / "rejected" / name).exists() and not (incoming / name).exists(), name
    assert _refusals(services) == refusals + len(POISON)
    assert (incoming / "0-a-folder.stmt.json").is_dir()  # passed over, and held nothing up
