"""ProjectRegistrationWorkflow (REG-1…4): bureau review of a project registration.

The workflow owns where the case is (round, claimant, decision); the database owns the facts.
People act through updates whose validators refuse what the case does not allow right now.
Due-time reminder and escalation are timers here; inbox rows are written by activities.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.registration import (
        ApplyCorrectionInput,
        AssignTaskInput,
        CancelRegistrationInput,
        Decision,
        OpenReviewTaskInput,
        RecordDecisionInput,
        RegistrationActivities,
        TaskTimerInput,
    )

ACTIVITY_OPTS = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)


@dataclass
class RegistrationInput:
    application_id: int
    number: str


@dataclass
class RegistrationResult:
    status: str
    rounds: int
    project_id: Optional[int] = None


@dataclass
class ClaimInput:
    actor_id: int
    task_id: int


@dataclass
class DecideInput:
    actor_id: int
    task_id: int  # the task the reviewer saw: a stale form names an older one
    decision: str
    reason: str = ""


@dataclass
class ResubmitInput:
    correction_id: int
    base_revision: int


@dataclass
class RegistrationStatusView:
    status: str
    round: int
    revision: int
    task_id: Optional[int]
    claimant_id: Optional[int]
    reminded: bool
    escalated: bool
    waiting_on: str  # "reviewer:<id>", "queue", "applicant" or "" when finished


def _refuse(message: str, code: str) -> None:
    """Refuse an update (validators): the code goes to the caller, one INFO line (code, case) to the
    worker's log (not the message)."""
    workflow.logger.info("refused %s: case %s", code, workflow.info().workflow_id)
    raise ApplicationError(message, type=code, non_retryable=True)


@workflow.defn
class ProjectRegistrationWorkflow:
    def __init__(self) -> None:
        self._status = "in_review"
        self._round = 0
        self._revision = 1
        self._task_id: Optional[int] = None
        self._claimant: Optional[int] = None
        self._busy = False  # a claim, decision or resubmission is being applied
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
                self._status = "returned"
                await workflow.wait_condition(lambda: self._resubmitted)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return RegistrationResult(self._status, self._round, self._project_id)
        except (asyncio.CancelledError, ActivityError) as exc:
            # cancelled while waiting; or (since the patch) while an activity ran: it closes its rows too
            if not isinstance(exc, asyncio.CancelledError) and not (
                    is_cancelled_exception(exc) and workflow.patched("registration-cancel-during-activity")):
                raise
            self._status = "cancelled"
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
        self._status, self._claimant, self._decided, self._resubmitted = "in_review", None, None, False
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
        if self._status != "in_review" or self._decided is not None:
            _refuse("the case is not waiting for review", "NotInReview")
        if task_id != self._task_id:
            _refuse("the case has changed since this page was opened", "StaleTask")
        if self._busy:
            _refuse("another action on this case is in progress", "Busy")

    @workflow.update
    async def claim(self, inp: ClaimInput) -> None:
        self._validate_claim(inp)
        self._claimant, self._busy = inp.actor_id, True
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
        finally:
            self._busy = False

    @claim.validator
    def _validate_claim(self, inp: ClaimInput) -> None:
        self._check_open_task(inp.task_id)
        if self._claimant is not None:
            _refuse("the case is already claimed", "AlreadyClaimed")

    @workflow.update
    async def unclaim(self, inp: ClaimInput) -> None:
        self._validate_unclaim(inp)
        self._claimant, self._busy = None, True
        try:
            await workflow.execute_activity_method(
                RegistrationActivities.assign_review_task, AssignTaskInput(inp.task_id, inp.actor_id, False),
                **ACTIVITY_OPTS)
        finally:
            self._busy = False

    @unclaim.validator
    def _validate_unclaim(self, inp: ClaimInput) -> None:
        self._check_open_task(inp.task_id)
        if self._claimant != inp.actor_id:
            _refuse("only the claimant can release the case", "NotClaimant")

    # --- decide ------------------------------------------------------------------------------

    @workflow.update
    async def decide(self, inp: DecideInput) -> str:
        self._validate_decide(inp)
        self._busy = True
        try:
            result = await workflow.execute_activity_method(
                RegistrationActivities.record_decision,
                RecordDecisionInput(self._application_id, inp.task_id, inp.actor_id, inp.decision,
                                    inp.reason.strip()),
                **ACTIVITY_OPTS)
        finally:
            self._busy = False
        self._project_id = result.project_id
        self._status = {Decision.APPROVE: "approved", Decision.REJECT: "rejected"}.get(inp.decision, "returned")
        self._decided = inp.decision
        return self._status

    @decide.validator
    def _validate_decide(self, inp: DecideInput) -> None:
        self._check_open_task(inp.task_id)
        if self._claimant is None:
            _refuse("claim the case before deciding", "NotClaimed")
        if self._claimant != inp.actor_id:
            _refuse("the case is claimed by another reviewer", "NotClaimant")
        if inp.decision not in Decision.ALL:
            _refuse("unknown decision", "BadDecision")
        if inp.decision != Decision.APPROVE and not inp.reason.strip():
            _refuse("a reason is required", "ReasonRequired")

    # --- resubmission by the applicant -------------------------------------------------------

    @workflow.update
    async def resubmit(self, inp: ResubmitInput) -> int:
        self._validate_resubmit(inp)
        self._busy = True
        try:
            result = await workflow.execute_activity_method(
                RegistrationActivities.apply_correction,
                ApplyCorrectionInput(self._application_id, inp.correction_id), **ACTIVITY_OPTS)
        finally:
            self._busy = False
        self._revision = result.revision
        self._resubmitted = True
        return self._revision

    @resubmit.validator
    def _validate_resubmit(self, inp: ResubmitInput) -> None:
        if self._status != "returned" or self._resubmitted:
            _refuse("the application is not waiting for correction", "NotReturned")
        if self._busy:
            _refuse("another action on this case is in progress", "Busy")
        if inp.base_revision != self._revision:
            _refuse("the application has changed since this form was opened", "StaleForm")

    @workflow.query
    def status(self) -> RegistrationStatusView:
        if self._status == "in_review":
            waiting = f"reviewer:{self._claimant}" if self._claimant else "queue"
        elif self._status == "returned":
            waiting = "applicant"
        else:
            waiting = ""
        return RegistrationStatusView(self._status, self._round, self._revision, self._task_id,
                                      self._claimant, self._reminded, self._escalated, waiting)
