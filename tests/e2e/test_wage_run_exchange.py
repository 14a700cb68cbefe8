"""The file-exchange channel end to end: the worker submits the wage file into the exchange folder,
the reference bank (started with --exchange-dir, no callback) pays and drops its signed statement in
incoming/, and the worker's watcher verifies it, stores it once, signals the run and acknowledges it.
A forged statement file is refused, audited and acknowledged without touching any line.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select

from activities.wage_run import SettleLineInput
from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from domain import wage_table
from domain.models import Account, AuditLog, BankStatement, Project, WageLine
from domain.wage_run import open_run, sign_step
from shiming.processes import free_port, shiming_argv, wait_for
from tests.domain.scan_samples import minimal_pdf
from tests.e2e.test_wage_run_processes import (
    MONTH, SECURITY_PASSWORDS, _account, _poll, _prepare_platform_data, _step,
)
from tests.helpers.stack import run_in_thread, start_stack
from workflows.wage_run import WageRunInput, WageRunWorkflow

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
        s.start_bank(_prepare_platform_data(s.services), "--exchange-dir", str(exchange),
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
        {"statement_id": "ST-" + "f" * 32, "batch_id": f"WR{run_id:08d}V001", "lines": [], "signature": "00" * 64}))
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
