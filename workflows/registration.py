"""ProjectRegistrationWorkflow (REG-1…4): bureau review of a project registration.

The workflow owns where the case is (round, claimant, decision); the database owns the facts.
People act through updates whose validators refuse what the case does not allow right now.
Due-time reminder and escalation are timers here; inbox rows are written by activities.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

from .guards import Busy, refuse

with workflow.unsafe.imports_passed_through():
    from activities.registration import RegistrationActivities
    from domain.processes.registration import (
        DECIDED_STATUS,
        ApplyCorrectionInput,
        AssignTaskInput,
        CancelRegistrationInput,
        ClaimInput,
        Decision,
        DecideInput,
        OpenReviewTaskInput,
        RecordDecisionInput,
        Refusal,
        RegistrationInput,
        RegistrationResult,
        RegistrationStatus,
        RegistrationStatusView,
        ResubmitInput,
        TaskTimerInput,
        waiting_on,
    )

ACTIVITY_OPTS = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)


@workflow.defn
class ProjectRegistrationWorkflow:
    def __init__(self) -> None:
        self._status = RegistrationStatus.IN_REVIEW
        self._round = 0
        self._revision = 1
        self._task_id: Optional[int] = None
        self._claimant: Optional[int] = None
        self._busy = Busy()  # a claim, decision or resubmission is being applied
        self._decided: Optional[str] = None
        self._resubmitted = False
        self._reminded = False
        self._escalated = False
        self._project_id: Optional[int] = None

    @workflow.run
    async def run(self, inp: RegistrationInput) -> RegistrationResult:
        try:
            while True:
                await self._open_round(inp)
                await self._wait_for_decision()
                if self._decided != Decision.RETURN:
                    break
                self._status = RegistrationStatus.RETURNED
                await workflow.wait_condition(lambda: self._resubmitted)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return RegistrationResult(self._status, self._round, self._project_id)
        except (asyncio.CancelledError, ActivityError) as exc:
            # cancelled while waiting; or (since the patch) while an activity ran: it closes its rows too
            if not isinstance(exc, asyncio.CancelledError) and not (
                    is_cancelled_exception(exc) and workflow.patched("registration-cancel-during-activity")):
                raise
            self._status = RegistrationStatus.CANCELLED
            await workflow.execute_activity_method(
                RegistrationActivities.cancel_registration,
                CancelRegistrationInput(inp.application_id, workflow.info().workflow_id),
                **ACTIVITY_OPTS,
            )
            raise

    async def _open_round(self, inp: RegistrationInput) -> None:
        self._round += 1
        opened = await workflow.execute_activity_method(
            RegistrationActivities.open_review_task,
            OpenReviewTaskInput(workflow.info().workflow_id, inp.application_id, self._round, workflow.now()),
            **ACTIVITY_OPTS,
        )
        self._application_id = inp.application_id
        self._task_id, self._due_at, self._escalate_at = opened.task_id, opened.due_at, opened.escalate_at
        self._status, self._claimant, self._decided, self._resubmitted = RegistrationStatus.IN_REVIEW, None, None, False
        self._reminded = self._escalated = False

    async def _wait_for_decision(self) -> None:
        decided = lambda: self._decided is not None  # noqa: E731
        for deadline, timer_activity in (
            (self._due_at, RegistrationActivities.remind_review_task),
            (self._escalate_at, RegistrationActivities.escalate_review_task),
        ):
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(decided, timeout=remaining)
                except asyncio.TimeoutError:
                    pass
            if decided():
                return
            await workflow.execute_activity_method(timer_activity, TaskTimerInput(self._task_id), **ACTIVITY_OPTS)
            if timer_activity is RegistrationActivities.remind_review_task:
                self._reminded = True
            else:
                self._escalated = True
        await workflow.wait_condition(decided)

    # --- claim / unclaim -------------------------------------------------------------------

    def _check_open_task(self, task_id: int) -> None:
        if self._status != RegistrationStatus.IN_REVIEW or self._decided is not None:
            refuse("the case is not waiting for review", Refusal.NOT_IN_REVIEW)
        if task_id != self._task_id:
            refuse("the case has changed since this page was opened", Refusal.STALE_TASK)
        if self._busy:
            refuse("another action on this case is in progress", Refusal.BUSY)

    @workflow.update
    async def claim(self, inp: ClaimInput) -> None:
        self._validate_claim(inp)
        self._claimant = inp.actor_id
        with self._busy:
            try:
                await workflow.execute_activity_method(
                    RegistrationActivities.assign_review_task, AssignTaskInput(inp.task_id, inp.actor_id, True),
                    **ACTIVITY_OPTS)
            except ActivityError:
                # refused by the database (an unknown account): the case stays in the queue, or no
                # reviewer could ever claim it again. Histories before this fix kept the claimant.
                if workflow.patched("registration-claim-refusal-keeps-unclaimed"):
                    self._claimant = None
                raise

    @claim.validator
    def _validate_claim(self, inp: ClaimInput) -> None:
        self._check_open_task(inp.task_id)
        if self._claimant is not None:
            refuse("the case is already claimed", Refusal.ALREADY_CLAIMED)

    @workflow.update
    async def unclaim(self, inp: ClaimInput) -> None:
        self._validate_unclaim(inp)
        self._claimant = None
        with self._busy:
            await workflow.execute_activity_method(
                RegistrationActivities.assign_review_task, AssignTaskInput(inp.task_id, inp.actor_id, False),
                **ACTIVITY_OPTS)

    @unclaim.validator
    def _validate_unclaim(self, inp: ClaimInput) -> None:
        self._check_open_task(inp.task_id)
        if self._claimant != inp.actor_id:
            refuse("only the claimant can release the case", Refusal.NOT_CLAIMANT)

    # --- decide ------------------------------------------------------------------------------

    @workflow.update
    async def decide(self, inp: DecideInput) -> str:
        self._validate_decide(inp)
        with self._busy:
            result = await workflow.execute_activity_method(
                RegistrationActivities.record_decision,
                RecordDecisionInput(self._application_id, inp.task_id, inp.actor_id, inp.decision,
                                    inp.reason.strip()),
                **ACTIVITY_OPTS)
        self._project_id = result.project_id
        self._status = DECIDED_STATUS.get(inp.decision, RegistrationStatus.RETURNED)
        self._decided = inp.decision
        return self._status

    @decide.validator
    def _validate_decide(self, inp: DecideInput) -> None:
        self._check_open_task(inp.task_id)
        if self._claimant is None:
            refuse("claim the case before deciding", Refusal.NOT_CLAIMED)
        if self._claimant != inp.actor_id:
            refuse("the case is claimed by another reviewer", Refusal.NOT_CLAIMANT)
        if inp.decision not in Decision.ALL:
            refuse("unknown decision", Refusal.BAD_DECISION)
        if inp.decision != Decision.APPROVE and not inp.reason.strip():
            refuse("a reason is required", Refusal.REASON_REQUIRED)

    # --- resubmission by the applicant -------------------------------------------------------

    @workflow.update
    async def resubmit(self, inp: ResubmitInput) -> int:
        self._validate_resubmit(inp)
        with self._busy:
            result = await workflow.execute_activity_method(
                RegistrationActivities.apply_correction,
                ApplyCorrectionInput(self._application_id, inp.correction_id), **ACTIVITY_OPTS)
        self._revision = result.revision
        self._resubmitted = True
        return self._revision

    @resubmit.validator
    def _validate_resubmit(self, inp: ResubmitInput) -> None:
        if self._status != RegistrationStatus.RETURNED or self._resubmitted:
            refuse("the application is not waiting for correction", Refusal.NOT_RETURNED)
        if self._busy:
            refuse("another action on this case is in progress", Refusal.BUSY)
        if inp.base_revision != self._revision:
            refuse("the application has changed since this form was opened", Refusal.STALE_FORM)

    @workflow.query
    def status(self) -> RegistrationStatusView:
        return RegistrationStatusView(self._status, self._round, self._revision, self._task_id,
                                      self._claimant, self._reminded, self._escalated,
                                      waiting_on(self._status, self._claimant))
