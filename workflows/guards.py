"""What every workflow's updates share: the refusal of a validator and the busy flag.

`refuse(message, code)` refuses an update from its validator: the caller sees `code` (the
`ApplicationError` type, non-retryable), the worker's log one INFO line with the code and the
case, never the message (it may name a person).

`Busy` says whether an update's activity is under way, so validators refuse another action
meanwhile: `with self._busy: await …` sets it for the block and clears it however the block ends;
`if self._busy:` and `wait_condition(lambda: not self._busy)` read it. It counts the blocks under
way, so updates whose activities may run at once (the enrolment's contract scan and training) keep it
set until the last of them ends. Neither issues a command, so using them changes no history.
"""
from __future__ import annotations

from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError


def refuse(message: str, code: str) -> NoReturn:
    workflow.logger.info("refused %s: case %s", code, workflow.info().workflow_id)
    raise ApplicationError(message, type=code, non_retryable=True)


class Busy:
    def __init__(self) -> None:
        self._under_way = 0

    def __bool__(self) -> bool:
        return self._under_way > 0

    def __enter__(self) -> "Busy":
        self._under_way += 1
        return self

    def __exit__(self, *_exc) -> None:
        self._under_way -= 1
