"""Worker exit (PAY-7), WorkerExitWorkflow: vocabulary, messages, helpers.

I/O-free (see domain/processes/__init__.py). The StrEnum values are the strings stored in the
database and written in the committed histories: never change one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Optional

CHECKS_PER_RUN = 200  # then continue-as-new, so a long wait keeps a short history
REASON_MAX = 200


class EngagementStatus(StrEnum):
    """project_worker.status: an exit request makes it `exiting`, the recorded exit `exited`."""

    ACTIVE = "active"
    EXITING = "exiting"
    EXITED = "exited"


class ExitState(StrEnum):
    """Where the exit process is (its query's and result's `state`)."""

    CHECKING = "checking"
    WAITING = "waiting"  # something is outstanding
    FINISHING = "finishing"
    EXITED = "exited"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class Refusal(StrEnum):
    """Refusal codes: the facts' (domain/worker_exit.py, snake case) and the process's updates'."""

    NOT_FOUND = "not_found"
    ALREADY_REQUESTED = "already_requested"
    ALREADY_EXITED = "already_exited"
    NOT_EXITING = "not_exiting"
    REASON_REQUIRED_FACT = "reason_required"
    REASON_TOO_LONG_FACT = "reason_too_long"
    NOT_WAITING = "NotWaiting"
    NOT_REQUESTER = "NotRequester"
    REASON_REQUIRED = "ReasonRequired"
    REASON_TOO_LONG = "ReasonTooLong"
    UNKNOWN_ACTOR = "UnknownActor"
    REFUSED = "Refused"  # a withdrawal refused by the database's view without a code of its own


def workflow_id_for(project_worker_id: int) -> str:
    """The business key of the exit process of one engagement."""
    return f"worker-exit-{project_worker_id}"


# --- messages of the workflow (web ↔ workflow) -----------------------------------------------


@dataclass
class WorkerExitInput:
    project_worker_id: int
    requested_by: int
    # carried over by continue-as-new
    reminders: int = 0
    next_remind_at: Optional[str] = None  # ISO 8601: a datetime here fails to decode in the sandbox
    checks_per_run: int = CHECKS_PER_RUN


@dataclass
class RecheckInput:
    note: str = ""


@dataclass
class CancelExitRequest:
    actor_id: int
    reason: str


@dataclass
class WorkerExitResult:
    state: str
    exit_date: Optional[str] = None
    revocation_id: Optional[int] = None


@dataclass
class WorkerExitStatus:
    state: str
    unpaid_lines: int
    unpaid_fen: int
    months_without_run: list[str] = field(default_factory=list)
    checks: int = 0
    reminders: int = 0
    exit_date: Optional[str] = None


# --- messages of the activities (workflow ↔ activities) --------------------------------------


@dataclass
class ExitRef:
    project_worker_id: int


@dataclass
class OutstandingResult:
    unpaid_lines: int
    unpaid_fen: int
    months_without_run: list[str] = field(default_factory=list)

    @property
    def clear(self) -> bool:
        return self.unpaid_lines == 0 and not self.months_without_run


@dataclass
class RemindExitInput:
    project_worker_id: int
    count: int


@dataclass
class FinishExitInput:
    project_worker_id: int
    workflow_id: str
    at: datetime


@dataclass
class FinishExitResult:
    exit_date: str  # YYYY-MM-DD
    revocation_id: int


@dataclass
class CancelExitInput:
    project_worker_id: int
    workflow_id: str
    actor_id: Optional[int]  # None: the process itself was cancelled (administrator)
    reason: str
