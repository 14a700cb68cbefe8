"""A wage run end to end across real processes: Temporal dev server, worker, web app (bank callback)
and the reference bank (`shiming bank`). Two specialists sign the four steps; one card is closed,
its line fails, the card is fixed, the line is re-issued and paid; the run completes.

One run tells the stories below, each a test over the stage the run has reached (module fixtures
`first_statement`, then `completed`); they run in file order, the last one changes a line.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.worker import Replayer

from bank_connectors.http import HttpBankConnector
from domain import signing, workforce
from domain.models import AuditLog, BankBatch, BankStatement, WageLine, Worker
from domain.processes.wage_run import ReissueInput, WageRunInput, batch_id_for
from shiming.processes import shiming_argv
from shiming.seed_workforce import generate_card_number
from shiming.verify_run import verify_run
from tests.helpers.factories import account_id
from tests.helpers.stack import run_in_thread, start_wage_stack
from tests.helpers.wage_run_processes import open_with_files, scenario_ledger
from tests.helpers.wage_scenario import MONTH, signed_step
from tests.helpers.waiting import poll
from workflows.wage_run import WageRunWorkflow

pytestmark = pytest.mark.slow

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_wage_stack(tmp_path_factory.mktemp("wage"), scenario_ledger, "--retry-cap", "1")
    yield s
    s.stop()


def _state(stack, workflow_id: str):
    async def q():
        client = await stack.client()
        return await client.get_workflow_handle(workflow_id).query(WageRunWorkflow.status)
    return run_in_thread(q)


@pytest.fixture(scope="module")
def first_statement(stack) -> dict:
    """MONTH's run through its four signed steps: the table's uploader tries the wage file first
    (refused), the other specialist sends it, and the bank's first statement is reconciled."""
    services = stack.services
    run_id, workflow_id, (table_sha, table_id, sheet_sha, sheet_id) = open_with_files(services, MONTH)

    async def drive():
        client = await stack.client()
        handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                             task_queue=services.settings.task_queue)
        await handle.execute_update(WageRunWorkflow.submit_wage_table,
                                    signed_step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
        batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet,
                                            signed_step(services, "payroll_a", run_id, "signed_sheet", sheet_sha, sheet_id))
        # maker-checker: the uploader of the table cannot submit the bank file
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
                services, "payroll_a", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        await handle.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        return refused.value.cause.type

    refusal = run_in_thread(drive)
    first = poll(lambda: (s := _state(stack, workflow_id)).reconcile and s.reconcile.open_lines == 1
                 and s.reconcile.failed_lines == 1 and s, "the first statement to be reconciled", timeout=120)
    return {"run_id": run_id, "workflow_id": workflow_id, "maker_checker": refusal, "first": first}


def test_the_table_uploader_may_not_send_the_wage_file_and_the_closed_card_fails_its_line(stack, first_statement):
    assert first_statement["maker_checker"] == "MakerChecker"
    first = first_statement["first"]
    assert first.reconcile.paid_lines == first.reconcile.line_count - 1
    with stack.services.Session() as session:
        failed = session.scalar(select(WageLine).where(WageLine.run_id == first_statement["run_id"],
                                                       WageLine.status == "failed"))
        assert failed.failure_code == "CARD_CLOSED"


@pytest.fixture(scope="module")
def completed(stack, first_statement) -> dict:
    """The specialist fixes the failed line's card (the bank knows the new card), re-issues the line
    as batch 2 and sends it; the run completes."""
    services = stack.services
    run_id, workflow_id = first_statement["run_id"], first_statement["workflow_id"]
    with services.Session() as session:
        failed = session.scalar(select(WageLine).where(WageLine.run_id == run_id, WageLine.status == "failed"))
        worker_id, worker_name = failed.worker_id, session.get(Worker, failed.worker_id).name
    new_card = generate_card_number(random.Random(7))
    with services.Session.begin() as session:
        workforce.set_card(session, services.cipher, session.get(Worker, worker_id), "中国工商银行", new_card)
    req = urllib.request.Request(f"{stack.bank_url}/api/v1/admin/cards", method="POST",
                                 data=json.dumps([{"number": new_card, "holder_name": worker_name, "status": "open"}]).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()

    async def reissue():
        client = await stack.client()
        h = client.get_workflow_handle_for(WageRunWorkflow.run, workflow_id)
        batch = await h.execute_update(WageRunWorkflow.reissue_failed, ReissueInput(account_id(services, "payroll_b")))
        await h.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        return batch, await h.result()

    batch, final = run_in_thread(reissue)
    return {**first_statement, "reissued": batch, "final": final}


def test_the_failed_line_is_reissued_to_the_new_card_and_every_line_is_paid(stack, completed):
    services, run_id, final = stack.services, completed["run_id"], completed["final"]
    assert completed["reissued"].version == 2 and completed["reissued"].line_count == 1
    assert final.open_lines == 0 and final.failed_lines == 0
    assert final.paid_lines == final.line_count
    assert final.paid_fen == final.table_fen
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(BankBatch).where(BankBatch.run_id == run_id)) == 2
        assert signing.verify_chain(session, run_id) == []
        assert session.scalar(select(func.count()).select_from(WageLine).where(
            WageLine.run_id == run_id, WageLine.status != "paid")) == 0
    # the bank holds exactly one batch per version
    bank = HttpBankConnector(stack.bank_url)
    for version in (1, 2):
        assert bank.batch_status(batch_id_for(run_id, version)) is not None


def test_a_statement_delivered_again_after_the_run_completed_is_a_duplicate(stack, completed):
    services = stack.services
    with services.Session() as session:
        stored = session.scalar(select(BankStatement).where(BankStatement.batch_id == batch_id_for(completed["run_id"], 1)))
        body = services.blobs.get(stored.body_sha256)
    again = urllib.request.urlopen(urllib.request.Request(
        f"{stack.web_url}/api/bank/statements", data=body, method="POST",
        headers={"Content-Type": "application/json"}), timeout=10)
    assert again.status == 200 and json.loads(again.read())["duplicate"] is True


def test_the_live_history_replays_and_temporal_stores_only_encrypted_payloads(stack, completed):
    # SHIMING_RECORD_HISTORIES=1 refreshes the committed copy
    async def history():
        client = await stack.client()
        h = await client.get_workflow_handle(completed["workflow_id"]).fetch_history()
        await Replayer(workflows=[WageRunWorkflow], data_converter=client.data_converter).replay_workflow(h)
        return h.to_json()

    recorded = run_in_thread(history)
    # what Temporal stores: every payload encrypted (json/plain never appears), no failure text
    assert '"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="' in recorded  # base64 of binary/encrypted
    assert "anNvbi9wbGFpbg==" not in recorded  # base64 of json/plain
    assert "cannot submit the wage file" not in recorded
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / "wage_run_reissue_completed.json").write_text(recorded)


def test_a_forged_statement_is_refused_and_audited(stack, completed):
    forged = json.dumps({"statement_id": "ST-" + "0" * 32, "batch_id": batch_id_for(completed["run_id"], 1),
                         "lines": [], "signature": "00" * 64}).encode()
    req = urllib.request.Request(f"{stack.web_url}/api/bank/statements", data=forged, method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as forged_answer:
        urllib.request.urlopen(req, timeout=10)
    assert forged_answer.value.code == 400
    with stack.services.Session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "bank_statement.refused")) >= 1


def test_verify_run_checks_the_chain_and_the_sums_and_finds_a_line_changed_after_signing(stack, completed):
    """`shiming verify-run`, in process and as the CLI; the last story of the run: it changes a line."""
    services, run_id, workflow_id = stack.services, completed["run_id"], completed["workflow_id"]
    report = verify_run(services, workflow_id)
    assert report.ok, report.problems
    assert report.figures["paid_fen"] == report.figures["table_fen"] == report.figures["bank_file_fen"]
    cli = subprocess.run(shiming_argv("verify-run", workflow_id), env=stack.env(), capture_output=True, text=True)
    assert cli.returncode == 0 and "OK" in cli.stdout, cli.stdout + cli.stderr
    with services.Session.begin() as session:
        line = session.scalar(select(WageLine).where(WageLine.run_id == run_id).order_by(WageLine.seq).limit(1))
        line.net_fen += 100
        tampered_seq = line.seq
    report = verify_run(services, workflow_id)
    assert f"line {tampered_seq} differs from the signed wage table" in report.problems
    cli = subprocess.run(shiming_argv("verify-run", str(run_id)), env=stack.env(), capture_output=True, text=True)
    assert cli.returncode == 1 and f"line {tampered_seq}" in cli.stdout


def test_no_full_number_in_the_process_logs_or_temporal_histories(stack):
    """SEC-1 / issue 4: after the runs above, the platform's log files (worker, web, Temporal) and the
    histories of every finished workflow — raw as stored, and decoded — hold no full ID number, card
    number, phone or account number."""
    from tests.helpers.pii_sweep import home_files, known_pii, leaks, sweep_files, sweep_home

    known = known_pii(stack.services)
    assert len([k for k in known.values() if k == "card_number"]) >= 5
    logs = [stack.home / f"{name}.log" for name in ("worker", "web", "temporal")]
    assert all(path.exists() for path in logs)
    assert sweep_files(logs, known) == {}
    # issue 8, point 10: every file under SHIMING_HOME — databases, blobs, logs, the Temporal database
    swept = {p.relative_to(stack.home).parts[0] for p in home_files(stack.home)}
    assert {"shiming.db", "temporal.db", "blobs", "worker.log"} <= swept, swept
    assert sweep_home(stack.home, known) == {}
    # the bank's ledger (full card numbers, as a bank's must be) lives in the bank's own home
    assert stack.bank_home.stat().st_mode & 0o777 == 0o700
    for name in ("bank.db", "ledger.json"):
        assert (stack.bank_home / name).stat().st_mode & 0o777 == 0o600, name
    assert sweep_home(stack.bank_home, known) != {}  # the sweep does find them where they are

    async def histories():
        raw = await Client.connect(stack.temporal_address)  # no codec: what Temporal stores
        codec = (await stack.client()).data_converter.payload_codec
        found, count, decoded_any = {}, 0, False
        async for wf in raw.list_workflows():
            if wf.status is None or wf.status.name == "RUNNING":
                continue
            count += 1
            history = await raw.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
            payloads = _payloads(history)
            assert payloads, wf.id
            stored = history.to_json() + "".join(p.data.decode("utf-8", "replace") for p in payloads)
            plain = "".join(p.data.decode("utf-8", "replace") for p in await codec.decode(payloads))
            decoded_any = decoded_any or '"run_id"' in plain  # the decoding really yields the payloads
            for where, text in (("stored", stored), ("decoded", plain)):
                hits = leaks(text, known)
                if hits:
                    found[f"{wf.id} ({where})"] = hits
        assert decoded_any
        return found, count

    found, count = run_in_thread(histories)
    assert count >= 1
    assert found == {}


def _payloads(history):
    """Every Payload message inside a history's events (repeated, nested and map fields)."""
    from temporalio.api.common.v1 import Payload

    out = []

    def walk(message):
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                items = list(value.values())
            elif hasattr(value, "ListFields"):
                items = [value]
            else:  # a repeated field
                items = list(value)
            for item in items:
                if isinstance(item, Payload):
                    out.append(item)
                elif hasattr(item, "ListFields"):
                    walk(item)

    for event in history.events:
        walk(event)
    return out
