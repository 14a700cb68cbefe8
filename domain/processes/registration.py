"""Project registration (REG-1…4), ProjectRegistrationWorkflow: vocabulary, messages, helpers.

I/O-free (see domain/processes/__init__.py). The StrEnum values are the strings stored in the
database and written in the committed histories: never change one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum, nonmember
from typing import Optional

TASK_KIND = "registration_review"  # human_task.kind of a review round


class RegistrationStatus(StrEnum):
    """registration_application.status, and the process's own status (its query's `status`)."""

    DRAFT = "draft"  # form saved, stamped scan not yet uploaded
    IN_REVIEW = "in_review"
    RETURNED = "returned"  # returned for correction, waiting for the applicant
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    FINAL = nonmember((APPROVED, REJECTED, CANCELLED))


class Decision(StrEnum):
    """A reviewer's decision; also human_task.outcome and the audit action `registration.<decision>`."""

    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return_for_correction"

    ALL = nonmember((APPROVE, REJECT, RETURN))


DECIDED_STATUS = {Decision.APPROVE: RegistrationStatus.APPROVED, Decision.REJECT: RegistrationStatus.REJECTED,
                  Decision.RETURN: RegistrationStatus.RETURNED}


class Refusal(StrEnum):
    """Refusal codes of the process's updates (validators) and activities (web/i18n.py words them),
    and of the facts (domain/registration.py, snake case; apply_correction's pass through the process)."""

    NOT_IN_REVIEW = "NotInReview"
    STALE_TASK = "StaleTask"
    BUSY = "Busy"
    ALREADY_CLAIMED = "AlreadyClaimed"
    NOT_CLAIMANT = "NotClaimant"
    NOT_CLAIMED = "NotClaimed"
    BAD_DECISION = "BadDecision"
    REASON_REQUIRED = "ReasonRequired"
    NOT_RETURNED = "NotReturned"
    STALE_FORM = "StaleForm"
    UNKNOWN_ACTOR = "UnknownActor"
    UNKNOWN_APPLICATION = "UnknownApplication"
    CASE_FINISHED = "CaseFinished"
    WRONG_APPLICATION = "WrongApplication"
    INVALID = "invalid"  # the form's fields: the message is the JSON of the field errors
    NOT_RETURNED_FACT = "not_returned"
    UNKNOWN_CORRECTION = "unknown_correction"
    STALE_CORRECTION = "stale_correction"


class Waiting(StrEnum):
    """Whom the case waits for (the status view's `waiting_on`); a claimed case: `reviewer:<id>`."""

    QUEUE = "queue"
    APPLICANT = "applicant"
    NOBODY = ""


REVIEWER_PREFIX = "reviewer:"


def workflow_id_for(number: str) -> str:
    """The business key of the review process of one application."""
    return f"registration-{number}"


def waiting_on(status: str, claimant_id: Optional[int]) -> str:
    """`reviewer:<id>`, `queue`, `applicant` or "" (finished), from the case's status and claimant."""
    if status == RegistrationStatus.IN_REVIEW:
        return f"{REVIEWER_PREFIX}{claimant_id}" if claimant_id else Waiting.QUEUE
    if status == RegistrationStatus.RETURNED:
        return Waiting.APPLICANT
    return Waiting.NOBODY


# --- messages of the workflow (web ↔ workflow) -----------------------------------------------


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
    waiting_on: str  # see waiting_on()


# --- messages of the activities (workflow ↔ activities) --------------------------------------


@dataclass
class OpenReviewTaskInput:
    workflow_id: str
    application_id: int
    round: int
    opened_at: datetime


@dataclass
class OpenReviewTaskResult:
    task_id: int
    due_at: datetime
    escalate_at: datetime


@dataclass
class AssignTaskInput:
    task_id: int
    actor_id: int
    claim: bool  # True: claim, False: unclaim


@dataclass
class TaskTimerInput:
    task_id: int


@dataclass
class RecordDecisionInput:
    application_id: int
    task_id: int
    actor_id: int
    decision: str
    reason: str


@dataclass
class RecordDecisionResult:
    status: str
    project_id: Optional[int] = None


@dataclass
class ApplyCorrectionInput:
    application_id: int
    correction_id: int


@dataclass
class ApplyCorrectionResult:
    revision: int


@dataclass
class CancelRegistrationInput:
    application_id: int
    workflow_id: str
