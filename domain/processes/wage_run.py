"""Wage run (PAY-3…7), WageRunWorkflow: vocabulary, messages, helpers.

I/O-free (see domain/processes/__init__.py): shared by the workflow, its activities, the bank
connectors and the web. The StrEnum values are the strings stored in the database and written in
the committed histories: never change one (a member's name may say it better than its value, as
`Step.WAGE_FILE = "bank_file"`: the value is what the histories and the rows hold).

The glossary's names: the encrypted file sent to the bank is the *wage file*; one submission of it,
with its version, is a *batch* (table `bank_batch`, id `batch_id_for`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Optional

# every wage-run activity's heartbeat timeout (the workflow's activity options): one lost with its
# worker is retried on another within seconds (its heartbeat thread beats at a fifth of it:
# activities/liveness.py heartbeat_until_done)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)


class Step(StrEnum):
    """Where a run is (`wage_run.step`, the query's `step`) and what a step signature names
    (`wage_step_signature.step`): the four signed steps in order, then the end states. SETTLE is a
    signed action during reconciliation, never a position of the run."""

    WAGE_TABLE = "wage_table"
    SIGNED_SHEET = "signed_sheet"
    WAGE_FILE = "bank_file"  # the wage file's submission to the bank (maker-checker)
    RECONCILE = "reconcile"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    SETTLE = "settle"


SIGNED_STEPS = (Step.WAGE_TABLE, Step.SIGNED_SHEET, Step.WAGE_FILE, Step.RECONCILE)  # the run page's step list


class WageRunStatus(StrEnum):
    """wage_run.status: a cancelled month may be opened again as a new run (domain/wage_run.py)."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class WageLineStatus(StrEnum):
    """wage_line.status."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    PAID = "paid"
    FAILED = "failed"
    SETTLED = "settled"
    CANCELLED = "cancelled"  # the run was cancelled before this line was paid: never payable, owes nothing here


class BatchStatus(StrEnum):
    """bank_batch.status: built (the wage file is sealed), submitted (the bank took it), answered
    (a statement of it was applied)."""

    BUILT = "built"
    SUBMITTED = "submitted"
    ANSWERED = "answered"


class LineFailure(StrEnum):
    """Why the bank failed a statement line: every one is about the card itself (the wage-file
    protocol's failure codes, docs/bank-protocol.md)."""

    CARD_CLOSED = "CARD_CLOSED"
    CARD_UNKNOWN = "CARD_UNKNOWN"
    NAME_MISMATCH = "NAME_MISMATCH"  # the card is in another holder's name


class Refusal(StrEnum):
    """Refusal codes: the facts' (domain/wage_run.py, snake case) and the process's (its updates'
    validators and its activities)."""

    BAD_MONTH = "bad_month"
    FUTURE_MONTH = "future_month"
    NO_WAGE_ACCOUNT = "no_wage_account"
    RUN_EXISTS = "run_exists"
    NOT_FOUND = "not_found"
    FINISHED = "finished"
    MONEY_IN_FLIGHT_FACT = "money_in_flight"
    NO_ENTERPRISE = "no_enterprise"
    WRONG_STEP = "WrongStep"
    BUSY = "Busy"
    MAKER_CHECKER = "MakerChecker"
    STALE_BATCH = "StaleBatch"
    WAGE_TABLE_INVALID = "WageTableInvalid"
    SIGNATURE_REFUSED = "SignatureRefused"
    BANK_REFUSED = "BankRefused"
    NOTHING_TO_REISSUE = "NothingToReissue"
    REASON_REQUIRED = "ReasonRequired"
    NOT_FAILED = "NotFailed"
    UNKNOWN_LINE = "UnknownLine"
    UNKNOWN_STATEMENT = "UnknownStatement"
    STATEMENT_REFUSED = "StatementRefused"
    MISSING_CARD = "MissingCard"
    EMPTY_BATCH = "EmptyBatch"
    SAME_FAILED_CARD = "SameFailedCard"
    CANCELLING = "Cancelling"
    CASE_FINISHED = "CaseFinished"
    MONEY_IN_FLIGHT = "MoneyInFlight"


# a statement refused when it is applied is recorded and the run waits on (issue 8, point 9)
STATEMENT_REFUSALS = (Refusal.STATEMENT_REFUSED, Refusal.UNKNOWN_STATEMENT)


def workflow_id_for(project_code: str, month: str, attempt: int = 1) -> str:
    """The business key: one live run per project and month. A month whose run was cancelled may be
    opened again: the n-th run of a month gets the suffix `-r<n>` (n >= 2), so the workflow id and
    the unique `wage_run.workflow_id` stay one-to-one."""
    base = f"wage-run-{project_code}-{month}"
    return base if attempt <= 1 else f"{base}-r{attempt}"


def batch_id_for(run_id: int, version: int) -> str:
    """The batch's id, also its idempotency key at the bank: run and batch version."""
    return f"WR{run_id:08d}V{version:03d}"


def settle_sha256(line_id: int, reason: str) -> str:
    """The content a settle signature covers: the line and the reason it was settled otherwise."""
    return hashlib.sha256(f"{line_id}:{reason}".encode("utf-8")).hexdigest()


def error_report_name(run_id: int) -> str:
    """The stored name of a refused wage table's error report (the page finds it by this name)."""
    return f"wage-table-errors-{run_id}.xlsx"


# --- messages of the workflow (web ↔ workflow) -----------------------------------------------


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
class BeginCancelInput:
    actor_id: int
    reason: str


@dataclass
class SignedStepInput:
    """A signed step (wage table, signed sheet, wage file submission): the update's and the
    activity's input."""

    run_id: int
    actor_id: int
    step: str
    content_sha256: str
    document: str  # canonical step document (domain.signing.step_document)
    signature: str  # hex Ed25519 signature of `document`
    signing_key_id: int
    file_id: Optional[int] = None
    batch_version: int = 0


@dataclass
class SettleLineInput:
    run_id: int
    actor_id: int
    line_id: int
    reason: str
    document: str
    signature: str
    signing_key_id: int


@dataclass
class BatchInfo:
    """A built batch: its wage file (`file_id`, the sealed envelope) and the plaintext's hash the
    submission signs."""

    batch_id: str
    version: int
    plaintext_sha256: str
    line_count: int
    total_fen: int
    file_id: int


@dataclass
class ReconcileState:
    line_count: int
    paid_lines: int
    failed_lines: int
    settled_lines: int
    open_lines: int  # neither paid nor settled
    paid_fen: int
    settled_fen: int
    table_fen: int


@dataclass
class WageRunStatusView:
    """The `status` query."""

    step: str
    table_uploaded_by: Optional[int]
    batch: Optional[BatchInfo]
    reconcile: Optional[ReconcileState]
    pending_statements: list[str] = field(default_factory=list)
    maker_checker: bool = True
    money_in_flight: bool = False  # a submitted batch the bank has not fully answered
    cancelling: bool = False  # an administrator's cancel was accepted
    refused_statements: list[str] = field(default_factory=list)  # refused when applied: recorded, waited on


# --- messages of the activities (workflow ↔ activities) --------------------------------------


@dataclass
class RunRef:
    run_id: int


@dataclass
class BuildBatchInput:
    run_id: int
    version: int


@dataclass
class ApplyStatementInput:
    run_id: int
    statement_id: str


@dataclass
class CancelRunInput:
    run_id: int
    reason: str
    actor_id: Optional[int] = None  # the administrator who cancelled, when the page did


@dataclass
class RemindInput:
    run_id: int
    step: str
    count: int
