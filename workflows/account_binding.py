"""WageAccountBindingWorkflow (PAY-2): binding a project's wage special account.

The bank validates the account (a refusal ends the case, its reason recorded); then the case
waits for the payroll specialist to accept the agreement, signed with their security password,
through the `accept_agreement` update. Not accepted within EXPIRE_AFTER, the binding expires.
The workflow carries the account row's id only, never its number. Cancelled by an administrator
before it is bound, the binding ends `unbound` (reason CANCELLED) so the project may add another.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from .guards import Busy, refuse

with workflow.unsafe.imports_passed_through():
    from activities.account_binding import AccountBindingActivities
    from domain.processes.account_binding import (
        AcceptAgreementInput,
        BindingInput,
        BindingRef,
        BindingResult,
        BindingStatus,
        BindingStatusView,
        CancelBindingInput,
        Refusal,
    )

EXPIRE_AFTER = timedelta(days=7)
ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(seconds=60),
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))


@workflow.defn
class WageAccountBindingWorkflow:
    def __init__(self) -> None:
        self._status = BindingStatus.VALIDATING
        self._code = ""
        self._account_id = 0
        self._busy = Busy()

    @workflow.run
    async def run(self, inp: BindingInput) -> BindingResult:
        try:
            return await self._run(inp)
        except (asyncio.CancelledError, ActivityError) as exc:  # cancelled while waiting, or during an activity
            if not is_cancelled_exception(exc):
                raise
            if workflow.patched("wage-account-binding-cancel-closes") and self._status in (
                    BindingStatus.VALIDATING, BindingStatus.AWAITING_AGREEMENT):
                self._status = BindingStatus.CANCELLED
                await workflow.execute_activity_method(
                    AccountBindingActivities.cancel_binding,
                    CancelBindingInput(inp.wage_account_id, workflow.cancellation_reason() or "cancelled"),
                    **ACTIVITY_OPTS)
            raise

    async def _run(self, inp: BindingInput) -> BindingResult:
        self._account_id = inp.wage_account_id
        checked = await workflow.execute_activity_method(
            AccountBindingActivities.validate_wage_account, BindingRef(inp.wage_account_id), **ACTIVITY_OPTS)
        if not checked.ok:
            self._status, self._code = BindingStatus.REFUSED, checked.code
            return BindingResult(self._status, self._code)
        self._status = BindingStatus.AWAITING_AGREEMENT
        bound = lambda: self._status == BindingStatus.BOUND  # noqa: E731
        try:
            await workflow.wait_condition(bound, timeout=EXPIRE_AFTER)
        except asyncio.TimeoutError:
            await workflow.wait_condition(lambda: not self._busy)  # an acceptance under way finishes first
        if not bound():
            self._status = BindingStatus.EXPIRED
            await workflow.execute_activity_method(
                AccountBindingActivities.expire_binding, BindingRef(inp.wage_account_id), **ACTIVITY_OPTS)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return BindingResult(self._status)

    @workflow.update
    async def accept_agreement(self, inp: AcceptAgreementInput) -> str:
        self._validate_accept(inp)
        with self._busy:
            try:
                await workflow.execute_activity_method(AccountBindingActivities.accept_agreement, inp, **ACTIVITY_OPTS)
            except ActivityError as exc:
                if isinstance(exc.cause, ApplicationError):  # a business refusal: the caller sees its code
                    raise exc.cause from None
                raise
        self._status = BindingStatus.BOUND
        return self._status

    @accept_agreement.validator
    def _validate_accept(self, inp: AcceptAgreementInput) -> None:
        if inp.wage_account_id != self._account_id:
            refuse("this process binds another account", Refusal.WRONG_ACCOUNT)
        if self._status != BindingStatus.AWAITING_AGREEMENT:
            refuse("the account is not waiting for the agreement", Refusal.NOT_AWAITING_AGREEMENT)
        if self._busy:
            refuse("another action on this account is in progress", Refusal.BUSY)
        if not inp.document or not inp.signature:
            refuse("the acceptance is not signed", Refusal.SIGNATURE_REFUSED)

    @workflow.query
    def status(self) -> BindingStatusView:
        return BindingStatusView(self._status, self._account_id, self._code)
