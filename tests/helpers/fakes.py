"""A stand-in for TemporalBridge in web unit tests: it records what the web layer asks.

`FakeBridge.run(fn)` really runs `fn` against a `FakeClient`, so the web code's own calls
(start_workflow, list_workflows, describe, cancel, fetch_history, reset) are exercised; the real
Temporal path is covered by the workflow and end-to-end tests.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Optional

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode



@dataclass
class FakeExecution:
    workflow_id: str
    status: WorkflowExecutionStatus = WorkflowExecutionStatus.RUNNING
    workflow_type: str = "ProjectRegistrationWorkflow"
    run_id: str = "run-1"
    view: Any = None  # what the `status` query answers
    events: list = field(default_factory=list)
    start_time: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc))


def history(*event_types: int) -> list[HistoryEvent]:
    return [HistoryEvent(event_id=i, event_type=t) for i, t in enumerate(event_types, start=1)]


def failed_history() -> list[HistoryEvent]:
    return history(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,  # 4
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,  # 10
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,  # 16
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    )


class FakeHandle:
    def __init__(self, client: "FakeClient", workflow_id: str):
        self.client, self.id = client, workflow_id

    def _execution(self) -> FakeExecution:
        ex = self.client.executions.get(self.id)
        if ex is None:
            raise RPCError(f"workflow not found for ID: {self.id}", RPCStatusCode.NOT_FOUND, b"")
        return ex

    async def describe(self):
        ex = self._execution()
        return SimpleNamespace(id=ex.workflow_id, run_id=ex.run_id, workflow_type=ex.workflow_type,
                               status=ex.status, start_time=ex.start_time, close_time=None,
                               raw_description=SimpleNamespace(pending_activities=[]))

    async def query(self, query, *args, **kwargs):
        return self._execution().view

    async def cancel(self, **kwargs):
        self._execution()
        self.client.cancelled.append(self.id)

    async def fetch_history(self, **kwargs):
        return SimpleNamespace(events=self._execution().events)


class FakeClient:
    namespace = "default"

    def __init__(self):
        self.executions: dict[str, FakeExecution] = {}
        self.started: list[dict] = []
        self.cancelled: list[str] = []
        self.resets: list = []
        self.workflow_service = SimpleNamespace(reset_workflow_execution=self._reset)

    async def start_workflow(self, workflow, arg, *, id, task_queue, **kwargs):
        self.started.append({"workflow": workflow, "arg": arg, "id": id, "task_queue": task_queue, **kwargs})
        if id in self.executions:
            raise WorkflowAlreadyStartedError(id, "ProjectRegistrationWorkflow")
        self.executions[id] = FakeExecution(id)

    def list_workflows(self, query: Optional[str] = None, *, limit: Optional[int] = None, **kwargs):
        async def gen():
            for ex in list(self.executions.values())[:limit]:
                yield SimpleNamespace(id=ex.workflow_id, run_id=ex.run_id, workflow_type=ex.workflow_type,
                                      status=ex.status, start_time=ex.start_time, close_time=None)

        return gen()

    def get_workflow_handle(self, workflow_id: str, *, run_id: Optional[str] = None, **kwargs):
        return FakeHandle(self, workflow_id)

    async def _reset(self, request):
        self.resets.append(request)
        return SimpleNamespace(run_id="run-2")


class FakeBridge:
    """Records updates, for happy-path view tests. It never refuses: a refusal is tested through the
    real dev server, worker and bridge (tests/web/test_refusals_live.py), where its code is real."""

    task_queue = "test-queue"
    namespace = "default"

    def __init__(self):
        self.client = FakeClient()
        self.updates: list[tuple[str, Any, Any]] = []
        self.down = False  # True: the engine is unreachable

    def run(self, fn, timeout: float = 60):
        if self.down:
            raise RuntimeError("Failed client connect: connection refused")

        async def call():
            return await fn(self.client)

        # on its own thread, like the real bridge: the test's thread may already run a loop
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, call()).result(timeout)

    def update(self, workflow_id: str, update, arg):
        self.updates.append((workflow_id, update, arg))
        return None

    @property
    def refuse(self):
        return None

    @refuse.setter
    def refuse(self, code):
        raise AssertionError("the fake bridge does not refuse: test refusals against the real dev server "
                             "(tests/web/test_refusals_live.py)")

    @property
    def calls(self) -> int:
        c = self.client
        return len(self.updates) + len(c.started) + len(c.cancelled) + len(c.resets)
