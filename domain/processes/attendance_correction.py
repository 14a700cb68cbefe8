"""Punch corrections (补卡, issue 11 point 5), AttendanceCorrectionWorkflow: vocabulary, messages, helpers.

A correction is its own approved record (table `punch_correction`), never a device punch: a
project's labour or project staff request it (worker, day, direction, corrected local time,
reason); another person with the approver's role on the project approves or refuses it, through
the process's `decide` update; never the requester. Statistics count approved corrections apart
from punches (domain/attendance.py).

I/O-free (see domain/processes/__init__.py). The StrEnum values are the strings stored in the
database and written in the committed histories: never change one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, nonmember
from typing import Optional

TASK_KIND = "punch_correction_review"  # human_task.kind of a correction's approval
REASON_MAX = 300


class CorrectionStatus(StrEnum):
    """punch_correction.status, and the process's own status (its query's `status`)."""

    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    FINAL = nonmember((APPROVED, REFUSED, CANCELLED))


class CorrectionDecision(StrEnum):
    """An approver's decision; also human_task.outcome and the audit action `punch_correction.<decision>`."""

    APPROVE = "approve"
    REFUSE = "refuse"

    ALL = nonmember((APPROVE, REFUSE))


DECIDED_STATUS = {CorrectionDecision.APPROVE: CorrectionStatus.APPROVED,
                  CorrectionDecision.REFUSE: CorrectionStatus.REFUSED}


class CorrectionRefusal(StrEnum):
    """Refusal codes of the update's validator, the activities and the facts (domain/corrections.py);
    web/refusals.py words each."""

    NOT_PENDING = "CorrectionNotPending"
    BUSY = "CorrectionBusy"
    OWN_REQUEST = "OwnCorrection"  # the requester cannot decide their own request
    BAD_DECISION = "CorrectionBadDecision"
    REASON_REQUIRED = "CorrectionReasonRequired"
    NOT_APPROVER = "NotCorrectionApprover"  # the account's role or project may not decide it
    UNKNOWN_CORRECTION = "UnknownCorrection"
    # the request's own fields (domain/corrections.py request_correction)
    NOT_REQUESTER = "NotCorrectionRequester"
    UNKNOWN_WORKER = "CorrectionUnknownWorker"
    BAD_DAY = "CorrectionBadDay"
    FUTURE_TIME = "CorrectionFutureTime"
    BAD_DIRECTION = "CorrectionBadDirection"
    BAD_TIME = "CorrectionBadTime"
    REASON_TOO_LONG = "CorrectionReasonTooLong"
    DUPLICATE = "CorrectionDuplicate"  # the same worker, day and direction is already pending or approved


def workflow_id_for(correction_id: int) -> str:
    """The business key of the approval process of one correction."""
    return f"punch-correction-{correction_id}"


# --- messages of the workflow (web ↔ workflow) -----------------------------------------------


@dataclass
class CorrectionInput:
    correction_id: int
    requester_id: int


@dataclass
class CorrectionResult:
    status: str
    approver_id: Optional[int] = None


@dataclass
class CorrectionDecideInput:
    actor_id: int
    decision: str
    reason: str = ""


@dataclass
class CorrectionStatusView:
    status: str
    task_id: Optional[int]
    requester_id: int
    approver_id: Optional[int]


# --- messages of the activities (workflow ↔ activities) --------------------------------------


@dataclass
class OpenCorrectionTaskInput:
    workflow_id: str
    correction_id: int
    opened_at: datetime


@dataclass
class OpenCorrectionTaskResult:
    task_id: int


@dataclass
class RecordCorrectionDecisionInput:
    correction_id: int
    task_id: int
    actor_id: int
    decision: str
    reason: str


@dataclass
class RecordCorrectionDecisionResult:
    status: str


@dataclass
class CancelCorrectionInput:
    correction_id: int
    workflow_id: str
