"""WageRunWorkflow (PAY-3, PAY-4, PAY-6): one project's wages for one month.

Four steps, each submitted through an update carrying the specialist's signature:
wage table → signed sheet → wage file (its batch submitted, maker-checker) → reconciliation of the bank's statements.
The workflow carries ids and hashes only; lines and files live in the database and blob store,
so its history has the same length for 10 or 10,000 workers.

Cancel (administrator, web/admin): the `begin_cancel` update is refused while money is in flight
(a submitted batch the bank has not answered), while another action runs, or once the run has
finished; accepted, it refuses every further step. The administrator's cancellation of the process
(reason = the cancel's reason) then runs `cancel_run`: unpaid lines `cancelled`, inbox rows closed,
run `cancelled` with the reason; the month may be opened again as a new run.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from .guards import Busy, refuse

with workflow.unsafe.imports_passed_through():
    from activities.wage_run import WageRunActivities
    from domain.processes.wage_run import (
        HEARTBEAT_TIMEOUT,
        STATEMENT_REFUSALS,
        ApplyStatementInput,
        BatchInfo,
        BeginCancelInput,
        BuildBatchInput,
        CancelRunInput,
        ReconcileState,
        ReissueInput,
        RemindInput,
        RunRef,
        SettleLineInput,
        SignedStepInput,
        StatementArrived,
        Step,
        WageRunInput,
        WageRunStatusView,
    )
    from domain.processes.wage_run import Refusal as R

# the heartbeat timeout lets an activity lost with its worker be retried within seconds
ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=HEARTBEAT_TIMEOUT,
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
REMIND_AFTER = timedelta(days=3)
# a statement refused when it is applied is recorded and the run waits on (issue 8, point 9)
PATCH_STATEMENT_REFUSAL_WAITS = "statement-refusal-waits"



@workflow.defn
class WageRunWorkflow:
    def __init__(self) -> None:
        self._step = Step.WAGE_TABLE
        self._busy = Busy()
        self._table_uploaded_by: Optional[int] = None
        self._batch: Optional[BatchInfo] = None
        self._submitted_version = 0
        self._reconcile: Optional[ReconcileState] = None
        self._statements: list[str] = []
        self._seen_statements: set[str] = set()
        self._cancel: Optional[BeginCancelInput] = None
        self._answered_since_submit = False
        self._refused_statements: list[str] = []

    @workflow.run
    async def run(self, inp: WageRunInput) -> ReconcileState:
        self._inp = inp
        try:
            return await self._run(inp)
        except (asyncio.CancelledError, ActivityError) as exc:  # cancelled while waiting, or during an activity
            if not is_cancelled_exception(exc):
                raise
            if workflow.patched("wage-run-cancel-closes-run"):
                await self._close_cancelled(inp)
            raise

    async def _close_cancelled(self, inp: WageRunInput) -> None:
        """The process was cancelled: its unpaid lines, inbox rows and the run are closed in the database."""
        reason = (self._cancel.reason if self._cancel else "") or workflow.cancellation_reason() or "cancelled"
        actor = self._cancel.actor_id if self._cancel else None
        try:
            await workflow.execute_activity_method(
                WageRunActivities.cancel_run, CancelRunInput(inp.run_id, reason, actor), **ACTIVITY_OPTS)
        except ActivityError:  # refused by the database (money in flight, run completed): its view stands
            workflow.logger.warning("wage run %s: cancelled but the run could not be closed", inp.run_id)
            return
        self._step = Step.CANCELLED

    async def _run(self, inp: WageRunInput) -> ReconcileState:
        await self._wait_step(lambda: self._step != Step.WAGE_TABLE, Step.WAGE_TABLE)
        await self._wait_step(lambda: self._step != Step.SIGNED_SHEET, Step.SIGNED_SHEET)
        while True:
            await self._wait_step(lambda: self._step != Step.WAGE_FILE, Step.WAGE_FILE)
            await self._reconcile_statements()
            if self._step == Step.WAGE_FILE:  # a re-issue batch waits for its signed submission
                continue
            if self._all_closed():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._step = Step.COMPLETED
        await workflow.execute_activity_method(WageRunActivities.complete_run, RunRef(inp.run_id), **ACTIVITY_OPTS)
        return self._reconcile

    async def _reconcile_statements(self) -> None:
        """Step 4: apply statements as they arrive, in order, until every line is paid or settled,
        or the step moves on (a re-issue batch goes back to the bank-file step)."""
        while True:
            await workflow.wait_condition(
                lambda: bool(self._statements) or self._step != Step.RECONCILE or self._all_closed())
            if not self._statements:
                return
            await self._apply_statement(self._statements.pop(0))

    async def _apply_statement(self, statement_id: str) -> None:
        try:
            self._reconcile = await workflow.execute_activity_method(
                WageRunActivities.apply_statement, ApplyStatementInput(self._inp.run_id, statement_id),
                **ACTIVITY_OPTS)
            self._answered_since_submit = True
        except ActivityError as exc:
            cause = exc.cause
            # Asked only when a statement is refused, so histories without a refusal replay unchanged,
            # a recorded history where the refusal failed the run still fails the same way, and an
            # administrator's Retry (a reset to the task that saw the refusal) now waits on.
            if (isinstance(cause, ApplicationError) and cause.type in STATEMENT_REFUSALS
                    and workflow.patched(PATCH_STATEMENT_REFUSAL_WAITS)):
                # a refusal from outside never fails the run: the activity audited it; wait for the next
                self._refused_statements.append(statement_id)
                self._seen_statements.discard(statement_id)  # delivered again (say, once its key is pinned): tried again
                workflow.logger.info("statement refused when applied (%s); waiting on", cause.type)
                return
            raise

    def _all_closed(self) -> bool:
        return (self._step == Step.RECONCILE and self._reconcile is not None
                and self._reconcile.open_lines == 0 and not self._busy)

    async def _wait_step(self, done, step: str) -> None:
        reminders = 0
        while True:
            try:
                await workflow.wait_condition(done, timeout=REMIND_AFTER)
                return
            except asyncio.TimeoutError:
                reminders += 1
                await workflow.execute_activity_method(
                    WageRunActivities.remind_step, RemindInput(self._inp.run_id, step, reminders), **ACTIVITY_OPTS)

    # --- step 1: wage table ----------------------------------------------------------------------

    def _check(self, step: str, inp: SignedStepInput) -> None:
        self._refuse_if_cancelling()
        if self._step != step:
            refuse(f"the run is not at step {step}", R.WRONG_STEP)
        if self._busy:
            refuse("another action on this run is in progress", R.BUSY)
        if inp.step != step:
            refuse("the signed document is for another step", R.WRONG_STEP)

    @workflow.update
    async def submit_wage_table(self, inp: SignedStepInput) -> ReconcileState:
        self._validate_wage_table(inp)
        with self._busy:
            result = await workflow.execute_activity_method(
                WageRunActivities.apply_wage_table, inp, **ACTIVITY_OPTS)
        self._table_uploaded_by, self._step = inp.actor_id, Step.SIGNED_SHEET
        return result

    @submit_wage_table.validator
    def _validate_wage_table(self, inp: SignedStepInput) -> None:
        self._check(Step.WAGE_TABLE, inp)

    # --- step 2: worker-signed sheet --------------------------------------------------------------

    @workflow.update
    async def submit_signed_sheet(self, inp: SignedStepInput) -> BatchInfo:
        self._validate_signed_sheet(inp)
        with self._busy:
            await workflow.execute_activity_method(WageRunActivities.apply_signed_sheet, inp, **ACTIVITY_OPTS)
            self._batch = await workflow.execute_activity_method(
                WageRunActivities.build_bank_batch, BuildBatchInput(self._inp.run_id, 1), **ACTIVITY_OPTS)
        self._step = Step.WAGE_FILE
        return self._batch

    @submit_signed_sheet.validator
    def _validate_signed_sheet(self, inp: SignedStepInput) -> None:
        self._check(Step.SIGNED_SHEET, inp)

    # --- step 3: wage file -------------------------------------------------------------------------

    @workflow.update
    async def submit_bank_file(self, inp: SignedStepInput) -> BatchInfo:
        self._validate_bank_file(inp)
        with self._busy:
            await workflow.execute_activity_method(WageRunActivities.submit_bank_batch, inp, **ACTIVITY_OPTS)
        self._submitted_version = self._batch.version
        self._answered_since_submit = False  # the counts of the last statement predate this batch
        self._step = Step.RECONCILE
        return self._batch

    @submit_bank_file.validator
    def _validate_bank_file(self, inp: SignedStepInput) -> None:
        self._check(Step.WAGE_FILE, inp)
        if self._inp.maker_checker and inp.actor_id == self._table_uploaded_by:
            refuse("the specialist who uploaded the wage table cannot submit the wage file", R.MAKER_CHECKER)
        if inp.content_sha256 != self._batch.plaintext_sha256 or inp.batch_version != self._batch.version:
            refuse("the signed wage file is not the current one", R.STALE_BATCH)

    # --- step 4: reconciliation --------------------------------------------------------------------

    def _refuse_if_cancelling(self) -> None:
        if self._cancel is not None:
            refuse("the run is being cancelled", R.CANCELLING)

    def _money_in_flight(self) -> bool:
        """A submitted batch whose lines the bank has not all answered (or a statement not applied yet)."""
        if self._step != Step.RECONCILE or self._batch is None or self._submitted_version != self._batch.version:
            return False
        r = self._reconcile
        if r is None or self._statements or not self._answered_since_submit:
            return True
        return r.line_count - r.paid_lines - r.failed_lines - r.settled_lines > 0

    # --- administrator's cancel -------------------------------------------------------------------

    @workflow.update
    def begin_cancel(self, inp: BeginCancelInput) -> str:
        """Accept an administrator's cancel: no further step is taken; the process cancel follows."""
        self._validate_begin_cancel(inp)
        self._cancel = BeginCancelInput(inp.actor_id, inp.reason.strip())
        return self._step

    @begin_cancel.validator
    def _validate_begin_cancel(self, inp: BeginCancelInput) -> None:
        if self._step in (Step.COMPLETED, Step.CANCELLED) or self._all_closed():
            refuse("the run has finished", R.CASE_FINISHED)
        if not inp.reason.strip():
            refuse("a reason is required", R.REASON_REQUIRED)
        if self._money_in_flight():
            refuse("a submitted batch is still unanswered by the bank", R.MONEY_IN_FLIGHT)
        if self._busy:
            refuse("another action on this run is in progress", R.BUSY)

    @workflow.signal
    def statement_arrived(self, inp: StatementArrived) -> None:
        if inp.statement_id not in self._seen_statements:  # a duplicate signal changes nothing
            self._seen_statements.add(inp.statement_id)
            self._statements.append(inp.statement_id)

    @workflow.update
    async def reissue_failed(self, inp: ReissueInput) -> BatchInfo:
        self._validate_reissue(inp)
        with self._busy:
            self._batch = await workflow.execute_activity_method(
                WageRunActivities.build_bank_batch, BuildBatchInput(self._inp.run_id, self._batch.version + 1),
                **ACTIVITY_OPTS)
        self._step = Step.WAGE_FILE
        return self._batch

    @reissue_failed.validator
    def _validate_reissue(self, inp: ReissueInput) -> None:
        self._refuse_if_cancelling()
        if self._step != Step.RECONCILE or self._busy:
            refuse("failed lines can be re-issued only during reconciliation", R.WRONG_STEP)
        if self._reconcile is None or self._reconcile.failed_lines == 0:
            refuse("there are no failed lines to re-issue", R.NOTHING_TO_REISSUE)

    @workflow.update
    async def settle_line(self, inp: SettleLineInput) -> ReconcileState:
        self._validate_settle(inp)
        with self._busy:
            self._reconcile = await workflow.execute_activity_method(
                WageRunActivities.settle_line, inp, **ACTIVITY_OPTS)
        return self._reconcile

    @settle_line.validator
    def _validate_settle(self, inp: SettleLineInput) -> None:
        self._refuse_if_cancelling()
        if self._step != Step.RECONCILE or self._busy:
            refuse("lines can be settled only during reconciliation", R.WRONG_STEP)
        if not inp.reason.strip():
            refuse("a reason is required", R.REASON_REQUIRED)

    @workflow.query
    def status(self) -> WageRunStatusView:
        return WageRunStatusView(self._step, self._table_uploaded_by, self._batch, self._reconcile, list(self._statements),
                             getattr(self, "_inp", WageRunInput(0)).maker_checker, self._money_in_flight(),
                             self._cancel is not None,
                             list(self._refused_statements))
