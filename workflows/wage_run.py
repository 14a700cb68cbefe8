"""WageRunWorkflow (PAY-3, PAY-4, PAY-6): one project's wages for one month.

Four steps, each submitted through an update carrying the specialist's signature:
wage table → signed sheet → bank file (maker-checker) → reconciliation of the bank's statements.
The workflow carries ids and hashes only; lines and files live in the database and blob store,
so its history has the same length for 10 or 10,000 workers.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Optional

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.wage_run import (
        ApplyStatementInput,
        BatchInfo,
        BuildBatchInput,
        ReconcileState,
        RemindInput,
        RunRef,
        SettleLineInput,
        SignedStepInput,
        WageRunActivities,
    )
    from activities.liveness import HEARTBEAT_TIMEOUT

# the heartbeat timeout lets an activity lost with its worker be retried within seconds
ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=HEARTBEAT_TIMEOUT,
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
REMIND_AFTER = timedelta(days=3)
# a statement refused when it is applied is recorded and the run waits on (issue 8, point 9)
PATCH_STATEMENT_REFUSAL_WAITS = "statement-refusal-waits"
STATEMENT_REFUSALS = ("StatementRefused", "UnknownStatement")


class Step:
    WAGE_TABLE = "wage_table"
    SIGNED_SHEET = "signed_sheet"
    BANK_FILE = "bank_file"
    RECONCILE = "reconcile"
    COMPLETED = "completed"


@dataclass
class WageRunInput:
    run_id: int
    maker_checker: bool = True


@dataclass
class StatementArrived:
    statement_id: str


@dataclass
class ReissueInput:
    actor_id: int


@dataclass
class WageRunStatus:
    step: str
    table_uploaded_by: Optional[int]
    batch: Optional[BatchInfo]
    reconcile: Optional[ReconcileState]
    pending_statements: list[str] = field(default_factory=list)
    refused_statements: list[str] = field(default_factory=list)  # refused when applied: recorded, waited on


def _refuse(message: str, code: str) -> None:
    raise ApplicationError(message, type=code, non_retryable=True)


@workflow.defn
class WageRunWorkflow:
    def __init__(self) -> None:
        self._step = Step.WAGE_TABLE
        self._busy = False
        self._table_uploaded_by: Optional[int] = None
        self._batch: Optional[BatchInfo] = None
        self._submitted_version = 0
        self._reconcile: Optional[ReconcileState] = None
        self._statements: list[str] = []
        self._seen_statements: set[str] = set()
        self._refused_statements: list[str] = []

    @workflow.run
    async def run(self, inp: WageRunInput) -> ReconcileState:
        self._inp = inp
        await self._wait_step(lambda: self._step != Step.WAGE_TABLE, Step.WAGE_TABLE)
        await self._wait_step(lambda: self._step != Step.SIGNED_SHEET, Step.SIGNED_SHEET)
        while True:
            await self._wait_step(lambda: self._step != Step.BANK_FILE, Step.BANK_FILE)
            # reconciliation: apply statements as they arrive until every line is paid or settled
            while True:
                await workflow.wait_condition(
                    lambda: bool(self._statements) or self._step != Step.RECONCILE or self._all_closed())
                if self._statements:
                    statement_id = self._statements.pop(0)
                    await self._apply_statement(statement_id)
                    continue
                break
            if self._step == Step.BANK_FILE:  # a re-issue batch waits for its signed submission
                continue
            if self._all_closed():
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._step = Step.COMPLETED
        await workflow.execute_activity_method(WageRunActivities.complete_run, RunRef(inp.run_id), **ACTIVITY_OPTS)
        return self._reconcile

    async def _apply_statement(self, statement_id: str) -> None:
        try:
            self._reconcile = await workflow.execute_activity_method(
                WageRunActivities.apply_statement, ApplyStatementInput(self._inp.run_id, statement_id),
                **ACTIVITY_OPTS)
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
        if self._step != step:
            _refuse(f"the run is not at step {step}", "WrongStep")
        if self._busy:
            _refuse("another action on this run is in progress", "Busy")
        if inp.step != step:
            _refuse("the signed document is for another step", "WrongStep")

    @workflow.update
    async def submit_wage_table(self, inp: SignedStepInput) -> ReconcileState:
        self._validate_wage_table(inp)
        self._busy = True
        try:
            result = await workflow.execute_activity_method(
                WageRunActivities.apply_wage_table, inp, **ACTIVITY_OPTS)
        finally:
            self._busy = False
        self._table_uploaded_by, self._step = inp.actor_id, Step.SIGNED_SHEET
        return result

    @submit_wage_table.validator
    def _validate_wage_table(self, inp: SignedStepInput) -> None:
        self._check(Step.WAGE_TABLE, inp)

    # --- step 2: worker-signed sheet --------------------------------------------------------------

    @workflow.update
    async def submit_signed_sheet(self, inp: SignedStepInput) -> BatchInfo:
        self._validate_signed_sheet(inp)
        self._busy = True
        try:
            await workflow.execute_activity_method(WageRunActivities.apply_signed_sheet, inp, **ACTIVITY_OPTS)
            self._batch = await workflow.execute_activity_method(
                WageRunActivities.build_bank_batch, BuildBatchInput(self._inp.run_id, 1), **ACTIVITY_OPTS)
        finally:
            self._busy = False
        self._step = Step.BANK_FILE
        return self._batch

    @submit_signed_sheet.validator
    def _validate_signed_sheet(self, inp: SignedStepInput) -> None:
        self._check(Step.SIGNED_SHEET, inp)

    # --- step 3: bank file -------------------------------------------------------------------------

    @workflow.update
    async def submit_bank_file(self, inp: SignedStepInput) -> BatchInfo:
        self._validate_bank_file(inp)
        self._busy = True
        try:
            await workflow.execute_activity_method(WageRunActivities.submit_bank_batch, inp, **ACTIVITY_OPTS)
        finally:
            self._busy = False
        self._submitted_version = self._batch.version
        self._step = Step.RECONCILE
        return self._batch

    @submit_bank_file.validator
    def _validate_bank_file(self, inp: SignedStepInput) -> None:
        self._check(Step.BANK_FILE, inp)
        if self._inp.maker_checker and inp.actor_id == self._table_uploaded_by:
            _refuse("the specialist who uploaded the wage table cannot submit the bank file", "MakerChecker")
        if inp.content_sha256 != self._batch.plaintext_sha256 or inp.batch_version != self._batch.version:
            _refuse("the signed bank file is not the current one", "StaleBatch")

    # --- step 4: reconciliation --------------------------------------------------------------------

    @workflow.signal
    def statement_arrived(self, inp: StatementArrived) -> None:
        if inp.statement_id not in self._seen_statements:  # a duplicate signal changes nothing
            self._seen_statements.add(inp.statement_id)
            self._statements.append(inp.statement_id)

    @workflow.update
    async def reissue_failed(self, inp: ReissueInput) -> BatchInfo:
        self._validate_reissue(inp)
        self._busy = True
        try:
            self._batch = await workflow.execute_activity_method(
                WageRunActivities.build_bank_batch, BuildBatchInput(self._inp.run_id, self._batch.version + 1),
                **ACTIVITY_OPTS)
        finally:
            self._busy = False
        self._step = Step.BANK_FILE
        return self._batch

    @reissue_failed.validator
    def _validate_reissue(self, inp: ReissueInput) -> None:
        if self._step != Step.RECONCILE or self._busy:
            _refuse("failed lines can be re-issued only during reconciliation", "WrongStep")
        if self._reconcile is None or self._reconcile.failed_lines == 0:
            _refuse("there are no failed lines to re-issue", "NothingToReissue")

    @workflow.update
    async def settle_line(self, inp: SettleLineInput) -> ReconcileState:
        self._validate_settle(inp)
        self._busy = True
        try:
            self._reconcile = await workflow.execute_activity_method(
                WageRunActivities.settle_line, inp, **ACTIVITY_OPTS)
        finally:
            self._busy = False
        return self._reconcile

    @settle_line.validator
    def _validate_settle(self, inp: SettleLineInput) -> None:
        if self._step != Step.RECONCILE or self._busy:
            _refuse("lines can be settled only during reconciliation", "WrongStep")
        if not inp.reason.strip():
            _refuse("a reason is required", "ReasonRequired")

    @workflow.query
    def status(self) -> WageRunStatus:
        return WageRunStatus(self._step, self._table_uploaded_by, self._batch, self._reconcile, list(self._statements),
                             list(self._refused_statements))
