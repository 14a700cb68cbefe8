"""A bare Temporal case of the same shape as a registration case: the engine's own cost.

One activity when the case opens, then a claim update and a decide update, each running one
activity; every activity does nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from temporalio import activity, workflow


@dataclass
class BareInput:
    case_id: int


@dataclass
class BareAction:
    actor_id: int
    task_id: int


@activity.defn
async def bare_step(case_id: int) -> int:
    return case_id


@workflow.defn
class BareCaseWorkflow:
    def __init__(self) -> None:
        self._task_id: Optional[int] = None
        self._claimant: Optional[int] = None
        self._decided = False

    @workflow.run
    async def run(self, inp: BareInput) -> str:
        self._task_id = await workflow.execute_activity(bare_step, inp.case_id,
                                                        start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: self._decided and workflow.all_handlers_finished())
        return "approved"

    @workflow.update
    async def claim(self, inp: BareAction) -> None:
        self._claimant = inp.actor_id
        await workflow.execute_activity(bare_step, inp.task_id, start_to_close_timeout=timedelta(seconds=30))

    @claim.validator
    def _validate_claim(self, inp: BareAction) -> None:
        if self._task_id != inp.task_id or self._claimant is not None:
            raise ValueError("refused")

    @workflow.update
    async def decide(self, inp: BareAction) -> str:
        await workflow.execute_activity(bare_step, inp.task_id, start_to_close_timeout=timedelta(seconds=30))
        self._decided = True
        return "approved"

    @decide.validator
    def _validate_decide(self, inp: BareAction) -> None:
        if self._claimant != inp.actor_id or self._decided:
            raise ValueError("refused")

    @workflow.query
    def task_id(self) -> Optional[int]:
        return self._task_id
