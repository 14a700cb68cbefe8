"""A wage run end to end across real processes: Temporal dev server, worker, web app (bank callback)
and the reference bank (`shiming bank`). Two specialists sign the four steps; one card is closed,
its line fails, the card is fixed, the line is re-issued and paid; the run completes.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
import urllib.request

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.worker import Replayer

from domain.processes.wage_run import SignedStepInput
from bank_connectors.http import HttpBankConnector
from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from domain import signing, wage_table, workforce
from domain.models import (
    Account, AuditLog, BankBatch, BankCard, BankStatement, Project, ProjectWorker, Role, WageAccount, WageLine, Worker, utcnow,
)
from domain.passwords import hash_password
from shiming.verify_run import verify_run
from domain.wage_run import open_run, sign_step
from shiming.processes import free_port, shiming_argv
from shiming.seed_workforce import generate_card_number, seed_workforce
from tests.helpers.scan_samples import minimal_pdf
from tests.helpers.stack import run_in_thread, start_stack
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import ReissueInput, WageRunInput, batch_id_for
from tests.helpers.waiting import poll as _poll

pytestmark = pytest.mark.slow

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"
MONTH = "2026-10"
WAGE_ACCOUNT = "6222020000012345678"
SECURITY_PASSWORDS = {"payroll_a": "Anquan2026a", "payroll_b": "Anquan2026b"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("wage")
    s = start_stack(home, web=False, worker=False)
    try:
        bank_port = free_port()
        s.extra_env["SHIMING_BANK_URL"] = f"http://127.0.0.1:{bank_port}"
        s.pin_bank_keys()
        s.start_web()  # the bank's callback target
        platform = load_or_create_keys(s.services.settings.home / "platform_keys")
        _proc, s.bank_url = s.start_bank(_prepare_platform_data(s.services), "--callback-url",
                                         f"{s.web_url}/api/bank/statements",
                                         "--platform-key", public_hex(platform.signing.public_key()),
                                         "--retry-cap", "1", port=bank_port)
        s.start_worker()
    except BaseException:
        print(s.logs())
        s.stop()
        raise
    yield s
    s.stop()


def _prepare_platform_data(services) -> dict:
    """Workforce, a bound wage account and two payroll specialists; returns the bank's ledger."""
    with services.Session.begin() as session:
        project = session.scalar(select(Project).where(Project.code.like("P%")))
        project_id = project.id
    seed_workforce(services, project_id, workers=6, month=MONTH)
    with services.Session.begin() as session:
        session.add(WageAccount(
            project_id=project_id, bank_code="REFBANK", account_number_enc=services.cipher.encrypt(WAGE_ACCOUNT, "account_number"),
            account_number_hash=services.cipher.lookup_hash(WAGE_ACCOUNT, "account_number"),
            account_last4=WAGE_ACCOUNT[-4:], account_name="示范项目农民工工资专用账户", status="bound"))
        for username in SECURITY_PASSWORDS:
            session.add(Account(username=username, display_name=f"工资专员{username[-1].upper()}",
                                password_hash=hash_password("Login2026x"), role=Role.PAYROLL_SPECIALIST,
                                project_id=project_id, district_id=project.district_id, created_at=utcnow()))
    for username, password in SECURITY_PASSWORDS.items():
        with services.Session.begin() as session:
            account_id = session.scalar(select(Account.id).where(Account.username == username))
            signing.set_security_password(session, account_id, password)
    cards = []
    with services.Session() as session:
        workers = session.execute(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                                  .where(ProjectWorker.project_id == project_id).order_by(Worker.id)).scalars().all()
        for i, worker in enumerate(workers):
            card = workforce.current_card(session, worker.id)
            # the first worker's card has been closed at the bank: that line will fail
            cards.append({"number": workforce.card_number_of(services.cipher, card), "holder_name": worker.name,
                          "status": "closed" if i == 0 else "open"})
    return {"accounts": [{"number": WAGE_ACCOUNT, "name": "示范项目农民工工资专用账户", "kind": "wage", "status": "open"}],
            "cards": cards}


def _account(services, username: str) -> int:
    with services.Session() as session:
        return session.scalar(select(Account.id).where(Account.username == username))


def _step(services, username, run_id, step, sha, file_id=None, batch_version=0) -> SignedStepInput:
    actor = _account(services, username)
    signed = sign_step(services.Session, actor, SECURITY_PASSWORDS[username], run_id, step, sha)
    return SignedStepInput(run_id=run_id, actor_id=actor, step=step, content_sha256=sha, document=signed.document,
                           signature=signed.signature, signing_key_id=signed.signing_key_id, file_id=file_id,
                           batch_version=batch_version)


def test_wage_run_four_signed_steps_reissue_and_reconcile(stack):
    services = stack.services
    with services.Session.begin() as session:
        project = session.scalar(select(Project).where(Project.code.like("P%")))
        run = open_run(session, project.id, MONTH, session.get(Account, _account(services, "payroll_a")))
        run_id, workflow_id, project_id = run.id, run.workflow_id, project.id
        table = wage_table.prefill_xlsx(session, services.cipher, project_id, MONTH)
        table_file = services.blobs.store(session, table, "application/xlsx", "table.xlsx")
        sheet_file = services.blobs.store(session, minimal_pdf(), "application/pdf", "sheet.pdf")
        table_id, sheet_id = table_file.id, sheet_file.id
    table_sha, sheet_sha = hashlib.sha256(table).hexdigest(), hashlib.sha256(minimal_pdf()).hexdigest()

    async def drive():
        client = await stack.client()
        handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                             task_queue=services.settings.task_queue)
        await handle.execute_update(WageRunWorkflow.submit_wage_table,
                                    _step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
        batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet,
                                            _step(services, "payroll_a", run_id, "signed_sheet", sheet_sha, sheet_id))
        # maker-checker: the uploader of the table cannot submit the bank file
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(WageRunWorkflow.submit_bank_file, _step(
                services, "payroll_a", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        assert refused.value.cause.type == "MakerChecker"
        await handle.execute_update(WageRunWorkflow.submit_bank_file, _step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        return handle

    handle = run_in_thread(drive)

    def state():
        async def q():
            client = await stack.client()
            return await client.get_workflow_handle(workflow_id).query(WageRunWorkflow.status)
        return run_in_thread(q)

    first = _poll(lambda: (s := state()).reconcile and s.reconcile.open_lines == 1 and s.reconcile.failed_lines == 1
                  and s, "the first statement to be reconciled", timeout=120)
    assert first.reconcile.paid_lines == first.reconcile.line_count - 1
    with services.Session() as session:
        failed = session.scalar(select(WageLine).where(WageLine.run_id == run_id, WageLine.status == "failed"))
        assert failed.failure_code == "CARD_CLOSED"
        worker = session.get(Worker, failed.worker_id)
        worker_name = worker.name

    # the specialist fixes the worker's card; the bank knows the new card
    import random
    new_card = generate_card_number(random.Random(7))
    with services.Session.begin() as session:
        workforce.set_card(session, services.cipher, session.get(Worker, failed.worker_id), "中国工商银行", new_card)
    req = urllib.request.Request(f"{stack.bank_url}/api/v1/admin/cards", method="POST",
                                 data=json.dumps([{"number": new_card, "holder_name": worker_name, "status": "open"}]).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()

    async def reissue():
        client = await stack.client()
        h = client.get_workflow_handle_for(WageRunWorkflow.run, workflow_id)
        batch = await h.execute_update(WageRunWorkflow.reissue_failed, ReissueInput(_account(services, "payroll_b")))
        assert batch.version == 2 and batch.line_count == 1
        await h.execute_update(WageRunWorkflow.submit_bank_file, _step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        return await h.result()

    final = run_in_thread(reissue)
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

    # a statement delivered again after the run completed is acknowledged as a duplicate
    with services.Session() as session:
        stored = session.scalar(select(BankStatement).where(BankStatement.batch_id == batch_id_for(run_id, 1)))
        body = services.blobs.get(stored.body_sha256)
    again = urllib.request.urlopen(urllib.request.Request(
        f"{stack.web_url}/api/bank/statements", data=body, method="POST",
        headers={"Content-Type": "application/json"}), timeout=10)
    assert again.status == 200 and json.loads(again.read())["duplicate"] is True

    # the live history replays deterministically; SHIMING_RECORD_HISTORIES=1 refreshes the committed copy
    async def history():
        client = await stack.client()
        h = await client.get_workflow_handle(workflow_id).fetch_history()
        await Replayer(workflows=[WageRunWorkflow], data_converter=client.data_converter).replay_workflow(h)
        return h.to_json()

    recorded = run_in_thread(history)
    # what Temporal stores: every payload encrypted (json/plain never appears), no failure text
    assert '"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="' in recorded  # base64 of binary/encrypted
    assert "anNvbi9wbGFpbg==" not in recorded  # base64 of json/plain
    assert "cannot submit the wage file" not in recorded
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / "wage_run_reissue_completed.json").write_text(recorded)

    # a forged statement is refused and audited; nothing changes
    forged = json.dumps({"statement_id": "ST-" + "0" * 32, "batch_id": batch_id_for(run_id, 1), "lines": [],
                         "signature": "00" * 64}).encode()
    req = urllib.request.Request(f"{stack.web_url}/api/bank/statements", data=forged, method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as forged_answer:
        urllib.request.urlopen(req, timeout=10)
    assert forged_answer.value.code == 400
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "bank_statement.refused")) >= 1

    # `shiming verify-run` checks the chain and the sums, and finds a line changed after signing
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
