"""`shiming bench wage-run --workers N`: one project's monthly wage run for N workers, all automated work.

Setup (not measured): a temporary home with SQLite, demo data, N workers with a month of punches,
a bound wage account, two payroll specialists with security passwords, the reference bank as its
own process (`shiming bank --pay-delay 0`, no callback), a Temporal dev server and an in-process
worker. Measured phases: prefill (the .xlsx from attendance), table import (upload + signed
`submit_wage_table`), signed sheet (signed `submit_signed_sheet`: bank file build, encryption and
signature), bank submit (signed `submit_bank_file`), bank processing + statement intake +
reconciliation (the statement is pulled from the bank and fed through the same intake and signal
as the web callback, until the run completes).

Baseline in the same process and database: the month's attendance aggregated in plain SQL
(GROUP BY worker and local day over the punches) and the same N lines written as CSV.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select, text
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from domain.processes.wage_run import SignedStepInput
from bank_connectors.http import HttpBankConnector
from bank_connectors.keys import load_pinned_bank_keys
from bank_connectors.intake import intake_statement
from bank_connectors.signing import public_hex
from domain import signing, wage_table, workforce
from domain.attendance import month_bounds
from domain.models import Account, Project, ProjectWorker, Role, WageAccount, Worker, utcnow
from domain.passwords import hash_password
from domain.services import Services
from domain.settings import Settings
from domain.wage_run import open_run, sign_step
from shiming.db import migrate
from shiming.seed_payroll import write_private_file
from shiming.processes import free_port, http_ok, shiming_argv, wait_for
from shiming.seed import seed_demo
from shiming.seed_workforce import seed_workforce
from shiming.temporal import temporal_cli
from shiming.worker import build_worker, platform_keys
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import StatementArrived, WageRunInput

WAGE_ACCOUNT = "6222020000012345678"
ACCOUNT_NAME = "压测项目农民工工资专用账户"
SECURITY_PASSWORDS = {"bench_payroll_a": "Anquan2026a", "bench_payroll_b": "Anquan2026b"}
# the workers' signed sheet as a scanned PDF (its content does not matter to the run)
SHEET = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
CSV_HEADER = ["seq", "project_worker_id", "name", "days", "hours", "daily_rate_fen", "gross_fen", "net_fen"]


def _services(home: Path, bank_url: str) -> Services:
    # the bank's public key file, written by the bank (--keys-out) and pinned, as an operator would
    settings = Settings.from_env(env="test", home=str(home), database_url=f"sqlite:///{home / 'bench.db'}",
                                 secret_key="bench-" + "x" * 40, pii_key="33" * 32,
                                 task_queue=f"bench-{uuid4()}", bank_url=bank_url,
                                 bank_keys_file=str(home / "bank-keys.json"))
    migrate(settings.database_url)
    services = Services.build(settings)
    seed_demo(services)
    return services


def _prepare(services: Services, workers: int, month: str) -> tuple[int, dict[str, int], dict]:
    """Workforce, wage account, specialists; returns the project id, account ids and the bank's ledger."""
    with services.Session() as session:
        project = session.scalar(select(Project).where(Project.code.like("P%")).order_by(Project.id))
        project_id, district_id = project.id, project.district_id
    seed_workforce(services, project_id, workers=workers, month=month)
    with services.Session.begin() as session:
        session.add(WageAccount(
            project_id=project_id, bank_code="REFBANK",
            account_number_enc=services.cipher.encrypt(WAGE_ACCOUNT, "account_number"),
            account_number_hash=services.cipher.lookup_hash(WAGE_ACCOUNT, "account_number"),
            account_last4=WAGE_ACCOUNT[-4:], account_name=ACCOUNT_NAME, status="bound"))
        for username in SECURITY_PASSWORDS:
            session.add(Account(username=username, display_name=f"压测工资专员{username[-1].upper()}",
                                password_hash=hash_password("Login2026x"), role=Role.PAYROLL_SPECIALIST,
                                project_id=project_id, district_id=district_id, created_at=utcnow()))
    accounts = {}
    for username, password in SECURITY_PASSWORDS.items():
        with services.Session.begin() as session:
            accounts[username] = session.scalar(select(Account.id).where(Account.username == username))
            signing.set_security_password(session, accounts[username], password)
    with services.Session() as session:
        rows = session.execute(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                               .where(ProjectWorker.project_id == project_id)).scalars().all()
        cards = workforce.current_cards(session, [w.id for w in rows])
        ledger_cards = [{"number": workforce.card_number_of(services.cipher, cards[w.id]), "holder_name": w.name,
                         "status": "open"} for w in rows]
    ledger = {"accounts": [{"number": WAGE_ACCOUNT, "name": ACCOUNT_NAME, "kind": "wage", "status": "open"}],
              "cards": ledger_cards}
    return project_id, accounts, ledger


def baseline(services: Services, project_id: int, month: str, out: Path) -> tuple[float, int]:
    """The same aggregation in plain SQL, the same lines written with the csv module; (seconds, lines)."""
    start, end = month_bounds(month)
    t0 = time.perf_counter()
    sql = text("""
        SELECT pw.id, w.name, d.days, d.seconds, pw.daily_rate_fen
        FROM (SELECT worker_id, COUNT(*) AS days, SUM(last_s - first_s) AS seconds
              FROM (SELECT worker_id, date(punched_at, '+8 hours') AS day,
                           MIN(strftime('%s', punched_at)) AS first_s, MAX(strftime('%s', punched_at)) AS last_s
                    FROM punch WHERE project_id = :p AND punched_at >= :start AND punched_at < :end
                    GROUP BY worker_id, day)
              GROUP BY worker_id) AS d
        JOIN project_worker pw ON pw.worker_id = d.worker_id AND pw.project_id = :p
        JOIN worker w ON w.id = d.worker_id
        ORDER BY pw.id""")
    with services.engine.connect() as conn:
        rows = conn.execute(sql, {"p": project_id, "start": start, "end": end}).all()
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        for seq, (pw_id, name, days, seconds, rate) in enumerate(rows, start=1):
            gross = rate * days
            writer.writerow([seq, pw_id, name, days, ((seconds + 180) // 360) / 10, rate, gross, gross])
    return time.perf_counter() - t0, len(rows)


def _signed(services: Services, actor: int, username: str, run_id: int, step: str, sha: str,
            file_id=None, batch_version=0) -> SignedStepInput:
    s = sign_step(services.Session, actor, SECURITY_PASSWORDS[username], run_id, step, sha)
    return SignedStepInput(run_id=run_id, actor_id=actor, step=step, content_sha256=sha, document=s.document,
                           signature=s.signature, signing_key_id=s.signing_key_id, file_id=file_id,
                           batch_version=batch_version)


async def _start_run(client, services: Services, project_id: int, month: str, opener: int):
    """Open the month's run and start its workflow; returns (run id, handle) once the workflow's
    first task is done."""
    def opening():
        with services.Session.begin() as session:
            run = open_run(session, project_id, month, session.get(Account, opener))
            return run.id, run.workflow_id

    run_id, workflow_id = await asyncio.to_thread(opening)
    handle = await client.start_workflow(WageRunWorkflow.run, WageRunInput(run_id), id=workflow_id,
                                         task_queue=services.settings.task_queue)
    # the run is opened and its first workflow task done before the clock starts (a person opens a
    # run long before the table is ready); an update racing the first task would fold two workflow
    # tasks into one and change the history's length by timing alone
    while not any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                  for e in (await handle.fetch_history()).events):
        await asyncio.sleep(0.05)
    return run_id, handle


def _prefill(services: Services, project_id: int, month: str) -> bytes:
    with services.Session() as session:
        return wage_table.prefill_xlsx(session, services.cipher, project_id, month)


def _upload(services: Services, run_id: int, data: bytes, mime: str, name: str, step: str, actor: int,
            username: str) -> SignedStepInput:
    """Store a step's file in the blob store and sign it: the update's input."""
    with services.Session.begin() as session:
        file_id = services.blobs.store(session, data, mime, name).id
    return _signed(services, actor, username, run_id, step, hashlib.sha256(data).hexdigest(), file_id)


async def _bank_and_reconcile(handle, services: Services, bank: HttpBankConnector, batch_id: str):
    """Wait for the bank's statement, feed it through the intake and signal the run, as the web
    callback does; returns (the clock when the statement existed, the run's result)."""
    bank_keys = await asyncio.to_thread(load_pinned_bank_keys, services.settings.bank_keys_file)
    while (body := await asyncio.to_thread(bank.fetch_statement, batch_id)) is None:
        await asyncio.sleep(0.05)
    t_statement = time.perf_counter()
    intake = await asyncio.to_thread(intake_statement, services, body, bank_keys, "bench")
    await handle.signal(WageRunWorkflow.statement_arrived, StatementArrived(intake.statement_id))
    return t_statement, await handle.result()


async def _drive(client, services: Services, project_id: int, accounts: dict[str, int], month: str,
                 bank: HttpBankConnector) -> dict:
    a, b = accounts["bench_payroll_a"], accounts["bench_payroll_b"]
    phases: dict[str, float] = {}
    run_id, handle = await _start_run(client, services, project_id, month, a)

    t_all = t = time.perf_counter()
    table = await asyncio.to_thread(_prefill, services, project_id, month)
    phases["prefill"] = time.perf_counter() - t

    t = time.perf_counter()
    step = await asyncio.to_thread(_upload, services, run_id, table, "application/xlsx", "table.xlsx", "wage_table",
                                   a, "bench_payroll_a")
    imported = await handle.execute_update(WageRunWorkflow.submit_wage_table, step)
    phases["table_import"] = time.perf_counter() - t

    t = time.perf_counter()
    step = await asyncio.to_thread(_upload, services, run_id, SHEET, "application/pdf", "sheet.pdf", "signed_sheet",
                                   a, "bench_payroll_a")
    batch = await handle.execute_update(WageRunWorkflow.submit_signed_sheet, step)
    phases["signed_sheet"] = time.perf_counter() - t

    t = time.perf_counter()
    step = await asyncio.to_thread(_signed, services, b, "bench_payroll_b", run_id, "bank_file",
                                   batch.plaintext_sha256, None, batch.version)
    await handle.execute_update(WageRunWorkflow.submit_bank_file, step)
    phases["bank_submit"] = time.perf_counter() - t

    t = time.perf_counter()
    t_statement, result = await _bank_and_reconcile(handle, services, bank, batch.batch_id)
    phases["bank_and_reconcile"] = time.perf_counter() - t
    total = time.perf_counter() - t_all

    history = await handle.fetch_history()
    return {
        "phases": phases, "total": total, "bank_wait": t_statement - t,
        "lines": imported.line_count, "batch_lines": batch.line_count,
        "paid_lines": result.paid_lines, "open_lines": result.open_lines,
        "completed": result.open_lines == 0 and result.paid_lines == result.line_count
        and result.paid_fen == result.table_fen,
        "history_events": len(history.events),
    }


def _spawn_bank(services: Services, bank_home: Path, bank_port: int, ledger: dict) -> subprocess.Popen:
    """The reference bank as its own process, with the ledger and the platform's pinned key; it writes
    its public key file where the platform's settings pin it."""
    write_private_file(bank_home / "ledger.json", json.dumps(ledger, ensure_ascii=False).encode("utf-8"))
    platform = platform_keys(services)
    with (bank_home / "bank.log").open("wb") as log:
        return subprocess.Popen(shiming_argv(
            "bank", "--home", str(bank_home), "--port", str(bank_port),
            "--ledger", str(bank_home / "ledger.json"), "--keys-out", services.settings.bank_keys_file,
            "--platform-key", public_hex(platform.signing.public_key()), "--pay-delay", "0"),
            stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run(workers: int, month: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="shiming-bench-wage-") as tmp:
        home = Path(tmp) / "var"  # the platform's data directory; the bank's home is beside it
        bank_home = Path(tmp) / "var-bank"
        home.mkdir()
        bank_port = free_port()
        bank_url = f"http://127.0.0.1:{bank_port}"
        t_setup = time.perf_counter()
        services = _services(home, bank_url)
        bank_proc = env = None
        try:
            project_id, accounts, ledger = _prepare(services, workers, month)
            bank_proc = _spawn_bank(services, bank_home, bank_port, ledger)
            wait_for(lambda: http_ok(f"{bank_url}/api/v1/health"), 300, "reference bank", bank_proc)
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_cli(),
                dev_server_extra_args=["--db-filename", str(home / "temporal.db")],
                ui=False,
            )
            setup_s = time.perf_counter() - t_setup
            baseline_s, baseline_lines = await asyncio.to_thread(baseline, services, project_id, month,
                                                                 home / "baseline.csv")
            with ThreadPoolExecutor(max_workers=16) as executor:
                async with build_worker(env.client, services, executor):
                    figures = await _drive(env.client, services, project_id, accounts, month,
                                           HttpBankConnector(bank_url, timeout=60))
        except BaseException:
            if bank_proc is not None and (bank_home / "bank.log").exists():
                sys.stderr.write((bank_home / "bank.log").read_text(errors="replace")[-4000:])
            raise
        finally:
            if env is not None:
                await env.shutdown()
            if bank_proc is not None:
                _stop(bank_proc)
            services.engine.dispose()
    return _report(workers, month, figures, baseline_s, baseline_lines, setup_s)


def _report(workers: int, month: str, figures: dict, baseline_s: float, baseline_lines: int, setup_s: float) -> dict:
    """The benchmark's one JSON line."""
    return {
        "bench": "wage-run",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "workers": workers,
        "month": month,
        "lines": figures["lines"],
        "completed": figures["completed"],
        "paid_lines": figures["paid_lines"],
        "phases_s": {k: round(v, 3) for k, v in figures["phases"].items()},
        "bank_wait_s": round(figures["bank_wait"], 3),  # the reference bank paying, until its statement exists
        "total_s": round(figures["total"], 3),
        "platform_s": round(figures["total"] - figures["bank_wait"], 3),  # total without the bank's own work
        "history_events": figures["history_events"],
        "baseline_s": round(baseline_s, 3),
        "baseline_lines": baseline_lines,
        "ratio": round(figures["total"] / baseline_s, 2) if baseline_s else None,
        "platform_ratio": round((figures["total"] - figures["bank_wait"]) / baseline_s, 2) if baseline_s else None,
        "setup_s": round(setup_s, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shiming bench wage-run")
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--month", default="2026-10")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("workers must be positive")
    try:
        month_bounds(args.month)
    except ValueError as exc:
        parser.error(str(exc))
    figures = asyncio.run(run(args.workers, args.month))
    print(json.dumps(figures, ensure_ascii=False))
    return 0
