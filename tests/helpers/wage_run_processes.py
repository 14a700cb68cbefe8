"""A wage run across real processes (tests/e2e): the stack of tests/helpers/stack.py started with
`start_wage_stack` over the wage scenario (tests/helpers/wage_scenario.py), then, by month,

- `open_with_files`: the run opened and its step-1/2 files (prefilled table, signed sheet) stored;
  `open_month` first seeds another month's punches and tells the bank every card is open;
- `send_steps`: steps 1-3 as updates, signed by the two specialists (the table's uploader and the
  other one for the wage file, as maker-checker wants), `before_wage_file(run_id)` in between;
- `through_wage_file`: both for a month;
- the run's `run_result`, `run_status` and `line_rows`, and `post_statement` to the web app's
  bank callback as the bank would.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.error
import urllib.request
from typing import Callable, Optional

from sqlalchemy import select

from domain import wage_table, workforce
from domain.models import Account, ProjectWorker, WageLine, WageRun, Worker
from domain.processes.wage_run import WageRunInput
from domain.services import Services
from domain.wage_run import open_run
from shiming.seed_workforce import seed_workforce
from tests.helpers.factories import account_id
from tests.helpers.scan_samples import minimal_pdf
from tests.helpers.stack import Stack, run_in_thread
from tests.helpers.wage_scenario import bank_ledger, demo_project_id, signed_step, wage_scenario
from workflows.wage_run import WageRunWorkflow

RESULT_TIMEOUT = 60
WORKERS = 6


def scenario_ledger(services: Services) -> dict:
    """The wage scenario with WORKERS workers; the bank's ledger for it (the first worker's card closed)."""
    scenario = wage_scenario(services, workers=WORKERS)
    return bank_ledger(services, scenario["project_id"])


def open_ledger(services: Services) -> dict:
    """As `scenario_ledger`, with every card open: each run pays all its lines in one batch."""
    return bank_ledger(services, wage_scenario(services, workers=WORKERS)["project_id"], closed=0)


def open_cards_at_bank(stack: Stack, project_id: int, status: str = "open") -> None:
    """Another month's seed may enrol other workers: the bank learns their cards, all `status`."""
    services = stack.services
    with services.Session() as session:
        workers = session.scalars(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                                  .where(ProjectWorker.project_id == project_id)).all()
        cards = [{"number": workforce.card_number_of(services.cipher, workforce.current_card(session, w.id)),
                  "holder_name": w.name, "status": status} for w in workers]
    req = urllib.request.Request(f"{stack.bank_url}/api/v1/admin/cards", method="POST", data=json.dumps(cards).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def open_with_files(services: Services, month: str) -> tuple[int, str, tuple]:
    """Open the month's run as `payroll_a` and store its step-1/2 files (the prefilled table, a signed
    sheet); returns (run id, workflow id, (table sha256, table file id, sheet sha256, sheet file id))."""
    project_id = demo_project_id(services)
    with services.Session.begin() as session:
        run = open_run(session, project_id, month, session.get(Account, account_id(services, "payroll_a")))
        run_id, workflow_id = run.id, run.workflow_id
        table = wage_table.prefill_xlsx(session, services.cipher, project_id, month)
        table_id = services.blobs.store(session, table, "application/xlsx", "table.xlsx").id
        sheet_id = services.blobs.store(session, minimal_pdf(), "application/pdf", "sheet.pdf").id
    files = (hashlib.sha256(table).hexdigest(), table_id, hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id)
    return run_id, workflow_id, files


def open_month(stack: Stack, month: str) -> tuple[int, str, tuple]:
    """Seed another month's punches, tell the bank every card is open and open the month's run
    with its files (`open_with_files`)."""
    project_id = demo_project_id(stack.services)
    seed_workforce(stack.services, project_id, workers=WORKERS, month=month)
    open_cards_at_bank(stack, project_id)
    return open_with_files(stack.services, month)


def send_steps(stack: Stack, run_id: int, workflow_id: str, files: tuple,
               before_wage_file: Optional[Callable[[int], None]] = None) -> None:
    """Start the run's process and send steps 1-3: `payroll_a` the table and the sheet, `payroll_b`
    the wage file; `before_wage_file(run_id)` runs once the batch is built."""
    services = stack.services
    table_sha, table_id, sheet_sha, sheet_id = files

    async def drive():
        client = await stack.client()
        handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                             task_queue=services.settings.task_queue)
        await handle.execute_update(WageRunWorkflow.submit_wage_table,
                                    signed_step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
        batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet,
                                            signed_step(services, "payroll_a", run_id, "signed_sheet", sheet_sha, sheet_id))
        if before_wage_file:
            before_wage_file(run_id)
        await handle.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))

    run_in_thread(drive)


def through_wage_file(stack: Stack, month: str, cards: str = "open") -> tuple[int, str]:
    """Steps 1-3 of `month`'s run, the bank told every card is `cards`; returns when the wage file is sent."""
    run_id, workflow_id, files = open_month(stack, month)
    if cards != "open":
        with stack.services.Session() as session:
            open_cards_at_bank(stack, session.get(WageRun, run_id).project_id, status=cards)
    send_steps(stack, run_id, workflow_id, files)
    return run_id, workflow_id


def run_result(stack: Stack, workflow_id: str, timeout: float = RESULT_TIMEOUT):
    """The run's result (its reconciliation view), waited for at most `timeout` seconds."""
    async def result():
        client = await stack.client()
        handle = client.get_workflow_handle_for(WageRunWorkflow.run, workflow_id)
        try:
            return await asyncio.wait_for(handle.result(), timeout)
        except asyncio.TimeoutError:
            print(stack.logs())
            raise
    return run_in_thread(result)


def run_status(stack: Stack, workflow_id: str):
    """The run's status query."""
    async def q():
        client = await stack.client()
        return await client.get_workflow_handle(workflow_id).query(WageRunWorkflow.status)
    return run_in_thread(q)


def line_rows(stack: Stack, run_id: int) -> list[tuple]:
    """(seq, status, paid_at, batch_version) of every line of the run."""
    with stack.services.Session() as session:
        return [tuple(row) for row in session.execute(
            select(WageLine.seq, WageLine.status, WageLine.paid_at, WageLine.batch_version)
            .where(WageLine.run_id == run_id).order_by(WageLine.seq))]


def post_statement(stack: Stack, body: bytes) -> tuple[int, dict]:
    """POST `body` to the web app's bank callback: (HTTP status, the JSON answer or the raw text)."""
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
