"""`shiming bench registration`: registration cases per second against a bare case of the same shape.

An automated applicant fills the form (domain validation, encrypted phone, generated .docx,
stamped scan into the blob store) and starts the process; an automated reviewer claims and
approves through the same updates the web layer sends. The bare case has the same number of
updates and activities, each doing nothing. Both run on one Temporal dev server in the same
process, alternating rounds; the figures are medians over the rounds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path
from uuid import uuid4

from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from benchmarks.bare import BareAction, BareCaseWorkflow, BareInput, bare_step
from domain import registration as reg
from domain.models import Account, District
from domain.processes.registration import (
    ClaimInput,
    Decision,
    DecideInput,
    RegistrationInput,
    RegistrationStatus,
)
from domain.services import Services
from domain.settings import Settings
from shiming.db import migrate
from shiming.seed import demo_credit_code, seed_demo
from shiming.temporal import temporal_cli
from shiming.worker import build_worker
from workflows.registration import ProjectRegistrationWorkflow

# a minimal but real PDF: what the applicant uploads as the stamped scan
SCAN = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
LABELS = {k: k for k in ("title", "number", "name", "address", "district", "builder", "contractor", "owner",
                         "contract_value", "period", "contact", "declaration", "seal", "date")}


def _services(home: Path) -> Services:
    settings = Settings.from_env(env="test", home=str(home), database_url=f"sqlite:///{home / 'bench.db'}",
                                 secret_key="bench-" + "x" * 40, pii_key="22" * 32,
                                 task_queue=f"bench-{uuid4()}")
    migrate(settings.database_url)
    services = Services.build(settings)
    seed_demo(services)
    return services


def _apply(services: Services, district_id: int, i: int) -> tuple[int, str, str]:
    """The applicant's side: validated form, generated document, stamped scan upload."""
    data = reg.RegistrationData(
        name=f"压测项目{i}", address="南宁市青秀区压测路1号", district_id=district_id,
        builder_name="压测建设单位", builder_credit_code=demo_credit_code("12450100MB0000005"),
        contractor_name="压测总包单位", contractor_credit_code=demo_credit_code("91450100MA5K9XYW3"),
        owner_name="压测业主单位", owner_credit_code=demo_credit_code("12450100MB0000006"),
        contract_value_fen=100_000_000 + i, planned_start=date(2027, 1, 1), planned_end=date(2027, 12, 31),
        contact_name="压测联系人", contact_phone=f"139{i % 100000000:08d}",
    )
    with services.Session.begin() as session:
        app, _token = reg.create_application(session, services.cipher, data)
        reg.application_docx(app, "青秀区", LABELS)
        stored = services.blobs.store_scan(session, SCAN + str(i).encode(), services.settings.upload_max_bytes, app.number)
        app.scan_file_id = stored.id
        return app.id, app.number, app.workflow_id


async def _product_case(client: Client, services: Services, district_id: int, reviewer: int, i: int) -> float:
    t0 = time.perf_counter()
    app_id, number, workflow_id = await asyncio.to_thread(_apply, services, district_id, i)
    handle = await client.start_workflow(ProjectRegistrationWorkflow.run, RegistrationInput(app_id, number),
                                         id=workflow_id, task_queue=services.settings.task_queue)
    task_id = None
    while task_id is None:
        task_id = (await handle.query(ProjectRegistrationWorkflow.status)).task_id
        if task_id is None:
            await asyncio.sleep(0.02)
    await handle.execute_update(ProjectRegistrationWorkflow.claim, ClaimInput(reviewer, task_id))
    await handle.execute_update(ProjectRegistrationWorkflow.decide, DecideInput(reviewer, task_id, Decision.APPROVE))
    result = await handle.result()
    assert result.status == RegistrationStatus.APPROVED, result
    return time.perf_counter() - t0


async def _bare_case(client: Client, task_queue: str, i: int) -> float:
    t0 = time.perf_counter()
    handle = await client.start_workflow(BareCaseWorkflow.run, BareInput(i), id=f"bare-{uuid4()}", task_queue=task_queue)
    task_id = None
    while task_id is None:
        task_id = await handle.query(BareCaseWorkflow.task_id)
        if task_id is None:
            await asyncio.sleep(0.02)
    await handle.execute_update(BareCaseWorkflow.claim, BareAction(1, task_id))
    await handle.execute_update(BareCaseWorkflow.decide, BareAction(1, task_id))
    assert await handle.result() == "approved"
    return time.perf_counter() - t0


async def _round(make_case, cases: int, concurrency: int) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> float:
        async with sem:
            return await make_case(i)

    t0 = time.perf_counter()
    latencies = await asyncio.gather(*(one(i) for i in range(cases)))
    return cases / (time.perf_counter() - t0), list(latencies)


async def run(cases: int, concurrency: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="shiming-bench-") as tmp:
        home = Path(tmp)
        services = _services(home)
        with services.Session() as session:
            district_id = session.scalar(select(District.id).where(District.code == "450103"))
            reviewer = session.scalar(select(Account.id).where(Account.username == "reviewer"))
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            dev_server_extra_args=["--db-filename", str(home / "temporal.db")],
            ui=False,
        )
        bare_queue = f"bare-{uuid4()}"
        counter = iter(range(10**9))
        product_tp, bare_tp, product_lat, bare_lat = [], [], [], []
        try:
            with ThreadPoolExecutor(max_workers=16) as executor:
                product_worker = build_worker(env.client, services, executor)
                bare_worker = Worker(env.client, task_queue=bare_queue, workflows=[BareCaseWorkflow],
                                     activities=[bare_step])
                async with product_worker, bare_worker:
                    # warm-up, not measured
                    await _round(lambda i: _bare_case(env.client, bare_queue, i), concurrency, concurrency)
                    await _round(lambda i: _product_case(env.client, services, district_id, reviewer, next(counter)),
                                 concurrency, concurrency)
                    for _ in range(rounds):
                        tp, lat = await _round(lambda i: _bare_case(env.client, bare_queue, i), cases, concurrency)
                        bare_tp.append(tp)
                        bare_lat += lat
                        tp, lat = await _round(
                            lambda i: _product_case(env.client, services, district_id, reviewer, next(counter)),
                            cases, concurrency)
                        product_tp.append(tp)
                        product_lat += lat
        finally:
            await env.shutdown()
            services.engine.dispose()
    return _figures(cases, concurrency, rounds, product_tp, bare_tp, product_lat, bare_lat)


def _figures(cases: int, concurrency: int, rounds: int, product_tp: list[float], bare_tp: list[float],
             product_lat: list[float], bare_lat: list[float]) -> dict:
    """The benchmark's one JSON line: medians over the rounds, and each round's throughput."""
    product, bare = statistics.median(product_tp), statistics.median(bare_tp)
    return {
        "bench": "registration",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cases_per_round": cases,
        "concurrency": concurrency,
        "rounds": rounds,
        "registration_cases_per_s": round(product, 2),
        "bare_cases_per_s": round(bare, 2),
        "ratio": round(product / bare, 3),
        "registration_case_median_s": round(statistics.median(product_lat), 3),
        "bare_case_median_s": round(statistics.median(bare_lat), 3),
        "per_round_registration": [round(x, 2) for x in product_tp],
        "per_round_bare": [round(x, 2) for x in bare_tp],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shiming bench registration")
    parser.add_argument("--cases", type=int, default=40, help="cases per round")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.cases < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error("cases, concurrency and rounds must be positive")
    figures = asyncio.run(run(args.cases, args.concurrency, args.rounds))
    print(json.dumps(figures, ensure_ascii=False))
    return 0
