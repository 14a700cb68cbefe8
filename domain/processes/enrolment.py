"""Worker enrolment (ENR-1, ENR-4…7), EnrolmentWorkflow: vocabulary, messages, helpers.

I/O-free (see domain/processes/__init__.py). The StrEnum values are the strings stored in the
database and written in the committed histories: never change one.

The case: the labour specialist (or a company account with the collect permission) reads the
card, takes the phone, the face consent and the face, completes the record, and starts the
process on the `enrolment` row that holds it (PII encrypted). The workflow carries that row's id
only. Steps: check for a duplicate (the same person active on another project: a task for the
specialist, decided by the `resolve_duplicate` update) → create the worker and the engagement →
create the worker's app account → generate the labour contract → wait for the signed scan
(`submit_contract_scan`) and the safety training (`record_training`), in either order → grant
site admission. Until then the worker is enrolled, not admitted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Optional

TASK_KIND_DUPLICATE = "enrolment_duplicate"
COURSE_MAX = 100
REASON_MAX = 200
HOURS_X10_MAX = 2000  # 200 hours: more is a typing error
INITIAL_PASSWORD_LENGTH = 6
CONTRACT_REMIND_AFTER_DAYS = 7


class EnrolmentState(StrEnum):
    """Where the enrolment is: `enrolment.state` and the status query's `state`."""

    CHECKING = "checking"
    DUPLICATE_REVIEW = "duplicate_review"  # waits for the specialist's decision
    CREATING = "creating"  # worker, app account, contract
    AWAITING_DOCUMENTS = "awaiting_documents"  # enrolled, not admitted: contract scan and/or training
    ADMITTED = "admitted"
    CANCELLED = "cancelled"


class DuplicateDecision(StrEnum):
    CONTINUE = "continue"
    CANCEL = "cancel"


class FaceConsent(StrEnum):
    """The worker's separate consent to face processing (ENR-7), recorded with time and recorder."""

    GIVEN = "given"
    REFUSED = "refused"


class AttendanceMode(StrEnum):
    """How the worker is recognised at the gate: by face, or (face consent refused) by card/other."""

    FACE = "face"
    CARD = "card"


class Waiting(StrEnum):
    """Whom the status view waits on."""

    SYSTEM = "system"
    SPECIALIST_DUPLICATE = "specialist_duplicate"
    CONTRACT_SCAN = "contract_scan"
    TRAINING = "training"
    CONTRACT_AND_TRAINING = "contract_and_training"
    NOBODY = "nobody"


class Refusal(StrEnum):
    """Refusal codes of the process's updates and activities."""

    NOT_FOUND = "EnrolmentNotFound"
    NOT_IN_DUPLICATE_REVIEW = "NotInDuplicateReview"
    UNKNOWN_DECISION = "UnknownDecision"
    REASON_REQUIRED = "ReasonRequired"
    NOT_AWAITING_DOCUMENTS = "NotAwaitingDocuments"
    CONTRACT_ON_FILE = "ContractOnFile"
    TRAINING_RECORDED = "TrainingRecorded"
    SCAN_REQUIRED = "ScanRequired"
    COURSE_REQUIRED = "CourseRequired"
    HOURS_INVALID = "HoursInvalid"
    DATE_INVALID = "TrainingDateInvalid"
    UNKNOWN_FILE = "UnknownFile"
    UNKNOWN_ACTOR = "UnknownActor"
    BUSY = "Busy"
    CASE_FINISHED = "CaseFinished"


def workflow_id_for(enrolment_id: int) -> str:
    """The business key of one enrolment case."""
    return f"enrolment-{enrolment_id}"


def initial_app_password(id_number: str) -> str:
    """ENR-5 / APP-1: the worker app's initial password is the last 6 characters of the ID number
    (an X check digit upper-case); the worker must change it at first login."""
    return id_number.strip().upper()[-INITIAL_PASSWORD_LENGTH:]


def attendance_mode_for(consent: FaceConsent | str) -> AttendanceMode:
    return AttendanceMode.FACE if consent == FaceConsent.GIVEN else AttendanceMode.CARD


def waiting_for_documents(contract_on_file: bool, training_recorded: bool) -> Waiting:
    if contract_on_file and training_recorded:
        return Waiting.SYSTEM
    if contract_on_file:
        return Waiting.TRAINING
    if training_recorded:
        return Waiting.CONTRACT_SCAN
    return Waiting.CONTRACT_AND_TRAINING


def admission_ready(contract_on_file: bool, training_recorded: bool) -> bool:
    """No one enters a site without a contract on file and safety training recorded (ENR-7)."""
    return contract_on_file and training_recorded


def training_problem(course: str, trained_on: str, hours_x10: int, certificate_file_id: int) -> Optional[Refusal]:
    """The first thing wrong with a training record, or None (the update's validator)."""
    if not course.strip() or len(course.strip()) > COURSE_MAX:
        return Refusal.COURSE_REQUIRED
    try:
        date.fromisoformat(trained_on)
    except (TypeError, ValueError):
        return Refusal.DATE_INVALID
    if not 0 < hours_x10 <= HOURS_X10_MAX:
        return Refusal.HOURS_INVALID
    if certificate_file_id <= 0:
        return Refusal.SCAN_REQUIRED
    return None


# --- messages of the workflow (web ↔ workflow) -----------------------------------------------


@dataclass
class EnrolmentInput:
    enrolment_id: int
    started_by: int


@dataclass
class ResolveDuplicateInput:
    actor_id: int
    decision: str  # DuplicateDecision
    reason: str = ""


@dataclass
class ContractScanInput:
    actor_id: int
    file_id: int  # stored_file of the signed scan (checked by domain/uploads.py before it was stored)


@dataclass
class TrainingInput:
    actor_id: int
    course: str
    trained_on: str  # YYYY-MM-DD
    hours_x10: int  # tenths of an hour
    certificate_file_id: int


@dataclass
class EnrolmentStatusView:
    state: str
    enrolment_id: int = 0
    duplicate_task_id: Optional[int] = None
    contract_on_file: bool = False
    training_recorded: bool = False
    waiting_on: str = Waiting.SYSTEM
    reminders: int = 0


@dataclass
class EnrolmentResult:
    state: str
    project_worker_id: Optional[int] = None


# --- messages of the activities (workflow ↔ activities) --------------------------------------


@dataclass
class EnrolmentRef:
    enrolment_id: int
    workflow_id: str = ""


@dataclass
class DuplicateCheckResult:
    duplicate: bool
    other_projects: int = 0


@dataclass
class OpenDuplicateTaskResult:
    task_id: int


@dataclass
class CloseDuplicateTaskInput:
    enrolment_id: int
    workflow_id: str
    actor_id: int
    decision: str
    reason: str = ""


@dataclass
class CreateWorkerResult:
    worker_id: int
    project_worker_id: int


@dataclass
class RecordContractScanInput:
    enrolment_id: int
    actor_id: int
    file_id: int


@dataclass
class RecordTrainingInput:
    enrolment_id: int
    actor_id: int
    course: str
    trained_on: str
    hours_x10: int
    certificate_file_id: int


@dataclass
class RemindContractInput:
    enrolment_id: int
    count: int


@dataclass
class CancelEnrolmentInput:
    enrolment_id: int
    workflow_id: str
    reason: str
