"""What the administrator asks Temporal (ADM-1, ADM-2). Each function takes the client and is run
through `TemporalBridge.run`; refusals raise ProcessRefused with a code the page translates."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.account_binding import WageAccountBindingWorkflow
from workflows.attendance_correction import AttendanceCorrectionWorkflow
from workflows.enrolment import EnrolmentWorkflow
from workflows.registration import ProjectRegistrationWorkflow
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import BeginCancelInput
from workflows.worker_exit import WorkerExitWorkflow

from ..temporal_bridge import ProcessRefused

QUERY_TIMEOUT = 3.0
RETRYABLE = (WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT)
STATUS_FILTERS = ("Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut", "ContinuedAsNew")
# each process type's own `status` query: where it is and whom it waits for (web/admin/steps.py reads it)
STATUS_QUERIES = {
    "ProjectRegistrationWorkflow": ProjectRegistrationWorkflow.status,
    "WageRunWorkflow": WageRunWorkflow.status,
    "WorkerExitWorkflow": WorkerExitWorkflow.status,
    "WageAccountBindingWorkflow": WageAccountBindingWorkflow.status,
    "EnrolmentWorkflow": EnrolmentWorkflow.status,
    "AttendanceCorrectionWorkflow": AttendanceCorrectionWorkflow.status,
}


@dataclass
class ProcessRow:
    workflow_id: str
    run_id: str
    type: str
    status: str  # WorkflowExecutionStatus name, e.g. "RUNNING"
    start_time: Optional[datetime]
    close_time: Optional[datetime]
    view: Any = None  # the `status` query of a running process (its type's status view)


@dataclass
class PendingActivity:
    name: str
    attempt: int
    last_failure: str


@dataclass
class ProcessDetail:
    row: ProcessRow
    pending_activities: list[PendingActivity] = field(default_factory=list)


async def _status_view(client: Client, workflow_id: str, run_id: str = "",
                       workflow_type: str = "ProjectRegistrationWorkflow") -> Any:
    """The process's own view of where it is; None when it cannot answer in time (no worker)."""
    query = STATUS_QUERIES.get(workflow_type)
    if query is None:
        return None
    try:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
        return await asyncio.wait_for(handle.query(query), QUERY_TIMEOUT)
    except Exception:  # noqa: BLE001 - a missing answer is shown as unknown, never as an error page
        return None


def _status_name(status) -> str:
    return status.name if status is not None else "UNKNOWN"


async def list_processes(client: Client, status: str = "", limit: int = 200) -> list[ProcessRow]:
    query = f"ExecutionStatus = '{status}'" if status in STATUS_FILTERS else None
    rows = []
    async for wf in client.list_workflows(query, limit=limit):
        rows.append(ProcessRow(wf.id, wf.run_id, wf.workflow_type, _status_name(wf.status),
                               wf.start_time, wf.close_time))
    running = [r for r in rows if r.status == "RUNNING" and r.type in STATUS_QUERIES]
    views = await asyncio.gather(*(_status_view(client, r.workflow_id, r.run_id, r.type) for r in running))
    for row, view in zip(running, views):
        row.view = view
    return rows


async def describe_process(client: Client, workflow_id: str) -> Optional[ProcessDetail]:
    """The latest run of `workflow_id`, or None when Temporal does not know it."""
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    row = ProcessRow(desc.id, desc.run_id, desc.workflow_type, _status_name(desc.status),
                     desc.start_time, desc.close_time)
    if desc.status == WorkflowExecutionStatus.RUNNING:
        row.view = await _status_view(client, workflow_id, desc.run_id, desc.workflow_type)
    pending = [PendingActivity(a.activity_type.name, a.attempt, a.last_failure.message)
               for a in desc.raw_description.pending_activities]
    return ProcessDetail(row, pending)


async def cancel_process(client: Client, workflow_id: str, reason: str = "", actor_id: Optional[int] = None) -> None:
    """Cancel the running process `workflow_id`; the workflow itself closes what it owns.

    Refused, and nothing is requested, when the process has ended (`CaseFinished`) or a cancel was
    already requested (`CancelRequested`). A wage run first accepts the cancel through its
    `begin_cancel` update, which refuses while money is in flight (`MoneyInFlight`) or another
    action runs (`Busy`) and stops every further step.
    """
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ProcessRefused("CaseFinished", str(exc)) from None
        raise
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise ProcessRefused("CaseFinished", f"the process is {_status_name(desc.status).lower()}")
    handle = client.get_workflow_handle(workflow_id, run_id=desc.run_id)
    history = await handle.fetch_history()
    if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED for e in history.events):
        raise ProcessRefused("CancelRequested")
    if desc.workflow_type == "WageRunWorkflow":
        try:
            await handle.execute_update(WageRunWorkflow.begin_cancel, BeginCancelInput(actor_id or 0, reason))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            code = cause.type if isinstance(cause, ApplicationError) and cause.type else "Refused"
            raise ProcessRefused(code, str(cause)) from None
    try:
        await handle.cancel(reason=reason)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ProcessRefused("CaseFinished", str(exc)) from None
        raise


def last_workflow_task_completed(events) -> Optional[int]:
    ids = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    return max(ids) if ids else None


async def retry_process(client: Client, workflow_id: str, reason: str) -> str:
    """Reset a failed, terminated or timed-out run to its last completed workflow task.

    Returns the id of the new run. A running process is refused: there is nothing to retry.
    """
    desc = await client.get_workflow_handle(workflow_id).describe()
    if desc.status == WorkflowExecutionStatus.RUNNING:
        raise ProcessRefused("Running")
    if desc.status not in RETRYABLE:
        raise ProcessRefused("NotRetryable")
    history = await client.get_workflow_handle(workflow_id, run_id=desc.run_id).fetch_history()
    event_id = last_workflow_task_completed(history.events)
    if event_id is None:
        raise ProcessRefused("NoResetPoint")
    response = await client.workflow_service.reset_workflow_execution(ResetWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=desc.run_id),
        reason=reason,
        workflow_task_finish_event_id=event_id,
        request_id=str(uuid.uuid4()),
    ))
    return response.run_id
