"""Business refusals raised by activities: the expected "no" of a process, not a fault.

`refusal(message, code, *details)` is the ApplicationError to raise: non-retryable, typed with
the code the web translates, and of category BENIGN, so the SDK logs its failure at DEBUG and
counts no failure metric instead of writing a WARNING with a traceback. It logs one INFO line
itself: the code, the case (workflow id) and the activity; never the message or the details,
which may name a person.
"""
from __future__ import annotations

import logging

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

log = logging.getLogger("shiming.refusal")


def refusal(message: str, code: str, *details) -> ApplicationError:
    try:
        info = activity.info()
        case, where = info.workflow_id or "-", info.activity_type
    except RuntimeError:  # not inside an activity (a unit test calling the method directly)
        case, where = "-", "-"
    log.info("refused %s: case %s, %s", code, case, where)
    return ApplicationError(message, *details, type=code, non_retryable=True,
                            category=ApplicationErrorCategory.BENIGN)


def is_business_refusal(exc: BaseException) -> bool:
    """A refusal raised on purpose: a non-retryable ApplicationError with a code."""
    return isinstance(exc, ApplicationError) and exc.non_retryable and bool(exc.type)
