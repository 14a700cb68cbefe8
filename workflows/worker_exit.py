"""WorkerExitWorkflow (PAY-7): a worker leaves a project once nothing is owed to them.

Started by the project account's exit request (the engagement is already `exiting`); id =
`worker-exit-<project_worker_id>`. Loop: check what is outstanding (unpaid lines in open runs,
months with attendance but no run); while anything is, wait a day or for a `recheck` signal,
and remind the project accounts every REMIND_EVERY. When clear: record the exit and the
site-access revocation. The requester may withdraw with the `cancel_exit` update (a reason is
required) while the process waits; cancelling the process (administrator) also puts the worker
back to active. Carries ids, counts and months only.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from .guards import refuse

with workflow.unsafe.imports_passed_through():
    from activities.worker_exit import WorkerExitActivities
    from domain.processes.worker_exit import (
        CancelExitInput,
        CancelExitRequest,
        ExitRef,
        ExitState,
        FinishExitInput,
        OutstandingResult,
        RecheckInput,
        Refusal,
        REASON_MAX,
        RemindExitInput,
        WorkerExitInput,
        WorkerExitResult,
        WorkerExitStatus,
    )

ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(seconds=60),
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
RECHECK_EVERY = timedelta(days=1)
REMIND_EVERY = timedelta(days=3)


@workflow.defn
class WorkerExitWorkflow:
    @workflow.init
    def __init__(self, inp: WorkerExitInput) -> None:
        self._pw_id, self._requested_by = inp.project_worker_id, inp.requested_by
        self._state = ExitState.CHECKING
        self._outstanding = OutstandingResult(0, 0, [])
        self._checks = 0
        self._reminders = 0
        self._recheck = False
        self._cancel: Optional[CancelExitRequest] = None
        self._exit_date: Optional[str] = None

    @workflow.run
    async def run(self, inp: WorkerExitInput) -> WorkerExitResult:
        try:
            return await self._run(inp)
        except (asyncio.CancelledError, ActivityError) as exc:  # an administrator cancelled: the worker stays
            # cancelled while waiting; or (since the patch) while an activity ran (a check, a reminder)
            if not isinstance(exc, asyncio.CancelledError) and not (
                    is_cancelled_exception(exc) and workflow.patched("worker-exit-cancel-during-activity")):
                raise
            if self._state not in (ExitState.EXITED, ExitState.CANCELLED):
                self._state = ExitState.CANCELLED
                try:
                    await workflow.execute_activity_method(
                        WorkerExitActivities.cancel_exit,
                        CancelExitInput(self._pw_id, workflow.info().workflow_id, None, "process cancelled"),
                        **ACTIVITY_OPTS)
                except ActivityError:  # e.g. the exit was recorded just before: the database's view stands
                    workflow.logger.warning("worker exit %s: cancelled after the exit was recorded", self._pw_id)
            raise

    async def _run(self, inp: WorkerExitInput) -> WorkerExitResult:
        self._reminders = inp.reminders
        next_remind = (datetime.fromisoformat(inp.next_remind_at) if inp.next_remind_at
                       else workflow.now() + REMIND_EVERY)
        ref = ExitRef(inp.project_worker_id)
        checks_this_run = 0
        while True:
            self._recheck = False
            self._outstanding = await workflow.execute_activity_method(
                WorkerExitActivities.check_outstanding, ref, **ACTIVITY_OPTS)
            self._checks += 1
            checks_this_run += 1
            if await self._withdrawn():
                return WorkerExitResult(ExitState.CANCELLED)
            if self._outstanding.clear:
                break
            self._state = ExitState.WAITING
            if workflow.now() >= next_remind:
                self._reminders += 1
                await workflow.execute_activity_method(
                    WorkerExitActivities.remind_exit, RemindExitInput(inp.project_worker_id, self._reminders),
                    **ACTIVITY_OPTS)
                next_remind = workflow.now() + REMIND_EVERY
            if checks_this_run >= inp.checks_per_run:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if await self._withdrawn():
                    return WorkerExitResult(ExitState.CANCELLED)
                workflow.continue_as_new(WorkerExitInput(inp.project_worker_id, inp.requested_by,
                                                         self._reminders, next_remind.isoformat(),
                                                         inp.checks_per_run))
            timeout = min(RECHECK_EVERY, next_remind - workflow.now())
            try:
                await workflow.wait_condition(lambda: self._recheck or self._cancel is not None,
                                              timeout=max(timeout, timedelta(seconds=1)))
            except asyncio.TimeoutError:
                pass
            if await self._withdrawn():
                return WorkerExitResult(ExitState.CANCELLED)
            self._state = ExitState.CHECKING
        self._state = ExitState.FINISHING
        done = await workflow.execute_activity_method(
            WorkerExitActivities.finish_exit,
            FinishExitInput(inp.project_worker_id, workflow.info().workflow_id, workflow.now()), **ACTIVITY_OPTS)
        self._state, self._exit_date = ExitState.EXITED, done.exit_date
        await workflow.wait_condition(workflow.all_handlers_finished)
        return WorkerExitResult(self._state, done.exit_date, done.revocation_id)

    async def _withdrawn(self) -> bool:
        """A withdrawal is under way: True once it is applied, False when it was refused."""
        if self._cancel is None:
            return False
        await workflow.wait_condition(lambda: self._state == ExitState.CANCELLED or self._cancel is None)
        if self._cancel is None:
            return False
        await workflow.wait_condition(workflow.all_handlers_finished)
        return True

    @workflow.signal
    def recheck(self, inp: RecheckInput) -> None:
        """Wages may have changed (a line paid or settled, a run opened): check now."""
        self._recheck = True

    @workflow.update
    async def cancel_exit(self, inp: CancelExitRequest) -> str:
        self._validate_cancel(inp)
        self._cancel, previous, self._state = inp, self._state, ExitState.CANCELLING
        try:
            await workflow.execute_activity_method(
                WorkerExitActivities.cancel_exit,
                CancelExitInput(self._pw_id, workflow.info().workflow_id, inp.actor_id, inp.reason.strip()),
                **ACTIVITY_OPTS)
        except ActivityError as exc:  # refused by the database's view: the exit goes on
            self._cancel, self._state = None, previous
            cause = exc.cause  # the activity's refusal, already logged by it: passed on with its code
            raise ApplicationError("the exit could not be withdrawn",
                                   type=cause.type if isinstance(cause, ApplicationError) and cause.type else Refusal.REFUSED,
                                   non_retryable=True) from None
        self._state = ExitState.CANCELLED
        return self._state

    @cancel_exit.validator
    def _validate_cancel(self, inp: CancelExitRequest) -> None:
        if self._state not in (ExitState.CHECKING, ExitState.WAITING) or self._cancel is not None:
            refuse("the exit can no longer be withdrawn", Refusal.NOT_WAITING)
        if inp.actor_id != self._requested_by:
            refuse("only the account that requested the exit can withdraw it", Refusal.NOT_REQUESTER)
        if not inp.reason.strip():
            refuse("a reason is required", Refusal.REASON_REQUIRED)
        if len(inp.reason.strip()) > REASON_MAX:
            refuse("the reason is too long", Refusal.REASON_TOO_LONG)

    @workflow.query
    def status(self) -> WorkerExitStatus:
        o = self._outstanding
        return WorkerExitStatus(self._state, o.unpaid_lines, o.unpaid_fen, list(o.months_without_run),
                                self._checks, self._reminders, self._exit_date)
