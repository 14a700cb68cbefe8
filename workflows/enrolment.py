"""EnrolmentWorkflow (ENR-1, ENR-4…7): from a completed enrolment record to site admission.

Started by the enrolment page on the `enrolment` row it wrote (id = `enrolment-<enrolment_id>`).
Duplicate check: the same person active on another project opens a task for the specialist,
decided by the `resolve_duplicate` update (continue, or cancel with a reason). Then the worker and
the engagement, the worker's app account and the labour contract (.docx). The case then waits
for the signed contract scan (`submit_contract_scan`) and the safety training (`record_training`),
in either order, reminding the specialist every REMIND_EVERY; with both on file it grants site
admission. Cancelled by an administrator, the enrolment ends cancelled (a worker already created
stays enrolled, not admitted). Carries the row's id, file ids and counts only.
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
    from activities.enrolment import EnrolmentActivities
    from domain.processes.enrolment import (
        CONTRACT_REMIND_AFTER_DAYS,
        REASON_MAX,
        CancelEnrolmentInput,
        CloseDuplicateTaskInput,
        ContractScanInput,
        DuplicateDecision,
        EnrolmentInput,
        EnrolmentRef,
        EnrolmentResult,
        EnrolmentState,
        EnrolmentStatusView,
        RecordContractScanInput,
        RecordTrainingInput,
        Refusal,
        RemindContractInput,
        ResolveDuplicateInput,
        TrainingInput,
        Waiting,
        admission_ready,
        training_problem,
        waiting_for_documents,
    )

ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(seconds=60),
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
REMIND_EVERY = timedelta(days=CONTRACT_REMIND_AFTER_DAYS)



def _passed_on(exc: ActivityError) -> BaseException:
    """An activity's refusal reaches the update's caller with its own code."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return ApplicationError(str(cause.message), type=cause.type, non_retryable=True)
    return exc


@workflow.defn
class EnrolmentWorkflow:
    @workflow.init
    def __init__(self, inp: EnrolmentInput) -> None:
        self._id = inp.enrolment_id
        self._state = EnrolmentState.CHECKING
        self._decision: Optional[str] = None
        self._task_id: Optional[int] = None
        self._contract = False
        self._training = False
        self._busy = Busy()
        self._reminders = 0
        self._pw_id: Optional[int] = None

    def _ref(self) -> EnrolmentRef:
        return EnrolmentRef(self._id, workflow.info().workflow_id)

    @workflow.run
    async def run(self, inp: EnrolmentInput) -> EnrolmentResult:
        try:
            return await self._run(inp)
        except (asyncio.CancelledError, ActivityError) as exc:  # an administrator cancelled the case
            if not isinstance(exc, asyncio.CancelledError) and not is_cancelled_exception(exc):
                raise
            if self._state not in (EnrolmentState.ADMITTED, EnrolmentState.CANCELLED):
                self._state = EnrolmentState.CANCELLED
                await workflow.execute_activity_method(
                    EnrolmentActivities.cancel_enrolment,
                    CancelEnrolmentInput(self._id, workflow.info().workflow_id,
                                         workflow.cancellation_reason() or "process cancelled"), **ACTIVITY_OPTS)
            raise

    async def _run(self, inp: EnrolmentInput) -> EnrolmentResult:
        checked = await workflow.execute_activity_method(EnrolmentActivities.check_duplicate, self._ref(),
                                                         **ACTIVITY_OPTS)
        if checked.duplicate:
            opened = await workflow.execute_activity_method(EnrolmentActivities.open_duplicate_task, self._ref(),
                                                            **ACTIVITY_OPTS)
            self._task_id, self._state = opened.task_id, EnrolmentState.DUPLICATE_REVIEW
            await workflow.wait_condition(lambda: self._decision is not None and not self._busy)
            if self._decision == DuplicateDecision.CANCEL:
                self._state = EnrolmentState.CANCELLED
                await workflow.wait_condition(workflow.all_handlers_finished)
                return EnrolmentResult(self._state)
        self._state = EnrolmentState.CREATING
        created = await workflow.execute_activity_method(EnrolmentActivities.create_worker, self._ref(),
                                                         **ACTIVITY_OPTS)
        self._pw_id = created.project_worker_id
        await workflow.execute_activity_method(EnrolmentActivities.create_app_account, self._ref(), **ACTIVITY_OPTS)
        await workflow.execute_activity_method(EnrolmentActivities.generate_contract, self._ref(), **ACTIVITY_OPTS)
        self._state = EnrolmentState.AWAITING_DOCUMENTS
        ready = lambda: admission_ready(self._contract, self._training) and not self._busy  # noqa: E731
        while not ready():
            try:
                await workflow.wait_condition(ready, timeout=REMIND_EVERY)
            except asyncio.TimeoutError:
                if not ready():
                    self._reminders += 1
                    await workflow.execute_activity_method(
                        EnrolmentActivities.remind_contract, RemindContractInput(self._id, self._reminders),
                        **ACTIVITY_OPTS)
        await workflow.execute_activity_method(EnrolmentActivities.admit_worker, self._ref(), **ACTIVITY_OPTS)
        self._state = EnrolmentState.ADMITTED
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EnrolmentResult(self._state, self._pw_id)

    # --- the duplicate task ----------------------------------------------------------------

    @workflow.update
    async def resolve_duplicate(self, inp: ResolveDuplicateInput) -> str:
        self._validate_resolve(inp)
        try:
            with self._busy:
                await workflow.execute_activity_method(
                    EnrolmentActivities.close_duplicate_task,
                    CloseDuplicateTaskInput(self._id, workflow.info().workflow_id, inp.actor_id, inp.decision,
                                            inp.reason.strip()), **ACTIVITY_OPTS)
        except ActivityError as exc:
            raise _passed_on(exc) from None
        self._decision = inp.decision
        return inp.decision

    @resolve_duplicate.validator
    def _validate_resolve(self, inp: ResolveDuplicateInput) -> None:
        if self._state != EnrolmentState.DUPLICATE_REVIEW or self._decision is not None or self._busy:
            refuse("the enrolment does not wait for a decision on a duplicate", Refusal.NOT_IN_DUPLICATE_REVIEW)
        if inp.decision not in (DuplicateDecision.CONTINUE, DuplicateDecision.CANCEL):
            refuse("unknown decision", Refusal.UNKNOWN_DECISION)
        if inp.decision == DuplicateDecision.CANCEL and not inp.reason.strip():
            refuse("a reason is required", Refusal.REASON_REQUIRED)
        if len(inp.reason.strip()) > REASON_MAX:
            refuse("the reason is too long", Refusal.REASON_REQUIRED)

    # --- the documents ---------------------------------------------------------------------

    def _documents_open(self) -> None:
        if self._state != EnrolmentState.AWAITING_DOCUMENTS:
            refuse("the enrolment does not wait for documents", Refusal.NOT_AWAITING_DOCUMENTS)

    @workflow.update
    async def submit_contract_scan(self, inp: ContractScanInput) -> bool:
        self._validate_scan(inp)
        try:
            with self._busy:
                await workflow.execute_activity_method(
                    EnrolmentActivities.record_contract_scan,
                    RecordContractScanInput(self._id, inp.actor_id, inp.file_id), **ACTIVITY_OPTS)
                self._contract = True
        except ActivityError as exc:
            raise _passed_on(exc) from None
        return admission_ready(self._contract, self._training)

    @submit_contract_scan.validator
    def _validate_scan(self, inp: ContractScanInput) -> None:
        self._documents_open()
        if self._contract:
            refuse("the signed contract is already on file", Refusal.CONTRACT_ON_FILE)
        if inp.file_id <= 0:
            refuse("the signed contract scan is missing", Refusal.SCAN_REQUIRED)

    @workflow.update
    async def record_training(self, inp: TrainingInput) -> bool:
        self._validate_training(inp)
        try:
            with self._busy:
                await workflow.execute_activity_method(
                    EnrolmentActivities.record_training,
                    RecordTrainingInput(self._id, inp.actor_id, inp.course, inp.trained_on, inp.hours_x10,
                                        inp.certificate_file_id), **ACTIVITY_OPTS)
                self._training = True
        except ActivityError as exc:
            raise _passed_on(exc) from None
        return admission_ready(self._contract, self._training)

    @record_training.validator
    def _validate_training(self, inp: TrainingInput) -> None:
        self._documents_open()
        if self._training:
            refuse("the safety training is already recorded", Refusal.TRAINING_RECORDED)
        problem = training_problem(inp.course, inp.trained_on, inp.hours_x10, inp.certificate_file_id)
        if problem is not None:
            refuse("the training record is incomplete", problem)

    @workflow.query
    def status(self) -> EnrolmentStatusView:
        if self._state == EnrolmentState.DUPLICATE_REVIEW:
            waiting = Waiting.SPECIALIST_DUPLICATE
        elif self._state == EnrolmentState.AWAITING_DOCUMENTS:
            waiting = waiting_for_documents(self._contract, self._training)
        elif self._state in (EnrolmentState.ADMITTED, EnrolmentState.CANCELLED):
            waiting = Waiting.NOBODY
        else:
            waiting = Waiting.SYSTEM
        return EnrolmentStatusView(self._state, self._id, self._task_id, self._contract, self._training,
                                   waiting, self._reminders)
