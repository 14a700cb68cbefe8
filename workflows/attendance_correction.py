"""AttendanceCorrectionWorkflow (补卡, issue 11 point 5): one correction's approval.

Opens the approver's inbox row, then waits for the `decide` update: its validator refuses a second
decision, a decision while one is being applied, the requester deciding their own request, an unknown
decision and a refusal without a reason; the activity refuses an account without the approver's role
on the project (the case stays pending). The database owns the correction; the workflow carries ids.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy

from .guards import Busy, refuse

with workflow.unsafe.imports_passed_through():
    from activities.attendance_correction import CorrectionActivities
    from domain.processes.attendance_correction import (
        DECIDED_STATUS,
        CancelCorrectionInput,
        CorrectionDecideInput,
        CorrectionDecision,
        CorrectionInput,
        CorrectionRefusal,
        CorrectionResult,
        CorrectionStatus,
        CorrectionStatusView,
        OpenCorrectionTaskInput,
        RecordCorrectionDecisionInput,
    )

ACTIVITY_OPTS = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)


@workflow.defn
class AttendanceCorrectionWorkflow:
    def __init__(self) -> None:
        self._status = CorrectionStatus.PENDING
        self._task_id: Optional[int] = None
        self._requester_id = 0
        self._correction_id = 0
        self._approver_id: Optional[int] = None
        self._busy = Busy()

    @workflow.run
    async def run(self, inp: CorrectionInput) -> CorrectionResult:
        self._requester_id, self._correction_id = inp.requester_id, inp.correction_id
        try:
            opened = await workflow.execute_activity_method(
                CorrectionActivities.open_correction_task,
                OpenCorrectionTaskInput(workflow.info().workflow_id, inp.correction_id, workflow.now()),
                **ACTIVITY_OPTS)
            self._task_id = opened.task_id
            await workflow.wait_condition(
                lambda: self._status != CorrectionStatus.PENDING and workflow.all_handlers_finished())
            return CorrectionResult(self._status, self._approver_id)
        except asyncio.CancelledError:
            self._status = CorrectionStatus.CANCELLED
            await workflow.execute_activity_method(
                CorrectionActivities.cancel_correction,
                CancelCorrectionInput(inp.correction_id, workflow.info().workflow_id), **ACTIVITY_OPTS)
            raise

    @workflow.update
    async def decide(self, inp: CorrectionDecideInput) -> str:
        self._validate_decide(inp)
        with self._busy:
            result = await workflow.execute_activity_method(
                CorrectionActivities.record_correction_decision,
                RecordCorrectionDecisionInput(self._correction_id, self._task_id, inp.actor_id, inp.decision,
                                              inp.reason.strip()),
                **ACTIVITY_OPTS)
        self._approver_id = inp.actor_id
        self._status = DECIDED_STATUS.get(inp.decision, CorrectionStatus(result.status))
        return self._status

    @decide.validator
    def _validate_decide(self, inp: CorrectionDecideInput) -> None:
        if self._status != CorrectionStatus.PENDING:
            refuse("the correction is not waiting for a decision", CorrectionRefusal.NOT_PENDING)
        if self._busy or self._task_id is None:  # a decision in progress, or its inbox row still being opened
            refuse("the correction is busy; try again in a moment", CorrectionRefusal.BUSY)
        if inp.actor_id == self._requester_id:
            refuse("the requester cannot decide their own correction", CorrectionRefusal.OWN_REQUEST)
        if inp.decision not in CorrectionDecision.ALL:
            refuse("unknown decision", CorrectionRefusal.BAD_DECISION)
        if inp.decision == CorrectionDecision.REFUSE and not inp.reason.strip():
            refuse("a reason is required", CorrectionRefusal.REASON_REQUIRED)

    @workflow.query
    def status(self) -> CorrectionStatusView:
        return CorrectionStatusView(self._status, self._task_id, self._requester_id, self._approver_id)
