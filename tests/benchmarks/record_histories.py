"""Record the bare benchmark case's history for the replay test.

Run: .venv/bin/python -m tests.benchmarks.record_histories
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from benchmarks.bare import BareAction, BareCaseWorkflow, BareInput, bare_step
from shiming.temporal import temporal_cli

HERE = Path(__file__).parent / "histories"


async def record() -> None:
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(), ui=False) as env:
        queue = f"bare-{uuid4()}"
        async with Worker(env.client, task_queue=queue, workflows=[BareCaseWorkflow], activities=[bare_step]):
            handle = await env.client.start_workflow(BareCaseWorkflow.run, BareInput(7), id="bare-case-history",
                                                     task_queue=queue)
            while await handle.query(BareCaseWorkflow.task_id) is None:
                await asyncio.sleep(0.05)
            await handle.execute_update(BareCaseWorkflow.claim, BareAction(1, 7))
            await handle.execute_update(BareCaseWorkflow.decide, BareAction(1, 7))
            await handle.result()
            history = await handle.fetch_history()
    HERE.mkdir(exist_ok=True)
    (HERE / "bare_case.json").write_text(history.to_json())


if __name__ == "__main__":
    asyncio.run(record())
