"""One place for the messages of process refusals: the code a process (its update validators, its
activities, its domain facts) refuses with → what the person on the page reads.

`REFUSALS` holds the codes every page may meet (the engine, the administrator's actions, and the
registration review); each process has its own table for its own codes, keyed by the members of
its vocabulary (domain/processes/). `refusal_message(code, *tables)` asks the page's tables first,
then REFUSALS; `web.core.call_process` flashes it. tests/web/test_refusal_messages.py reads every
code from the source and checks each has its own translated message here.
"""
from __future__ import annotations

import logging

from flask_babel import lazy_gettext as _l

from domain.processes.account_binding import Refusal as BindingRefusal
from domain.processes.attendance import DeviceRefusal, IngestRefusal, ItemError
from domain.processes.attendance_correction import CorrectionRefusal
from domain.processes.enrolment import Refusal as EnrolmentRefusal
from domain.processes.registration import Refusal as RegistrationRefusal
from domain.processes.wage_run import Refusal as WageRunRefusal
from domain.processes.worker_exit import Refusal as ExitRefusal

REFUSALS = {
    RegistrationRefusal.NOT_IN_REVIEW: _l("The case is not waiting for review."),
    RegistrationRefusal.STALE_TASK: _l("The case has changed since this page was opened. Please look at it again."),
    RegistrationRefusal.BUSY: _l("Another action on this case is in progress. Please try again in a moment."),
    RegistrationRefusal.ALREADY_CLAIMED: _l("The case has already been claimed."),
    RegistrationRefusal.NOT_CLAIMANT: _l("Only the reviewer who claimed the case can do this."),
    RegistrationRefusal.NOT_CLAIMED: _l("Claim the case before deciding."),
    RegistrationRefusal.BAD_DECISION: _l("Unknown decision."),
    RegistrationRefusal.REASON_REQUIRED: _l("A reason is required."),
    RegistrationRefusal.NOT_RETURNED: _l("The application is not waiting for correction."),
    RegistrationRefusal.STALE_FORM: _l("The application has changed since this form was opened. Please open it again."),
    RegistrationRefusal.CASE_FINISHED: _l("The process of this case has already finished."),
    "Running": _l("The process is still running: only a failed, terminated or timed-out process can be retried."),
    "NotRetryable": _l("Only a failed, terminated or timed-out process can be retried."),
    "NoResetPoint": _l("The process history has no point to retry from."),
    "Unavailable": _l("The process service is not reachable right now. Please try again later."),
    "Refused": _l("The process refused this action."),
    # administrator's cancel (web/admin/engine.py cancel_process)
    WageRunRefusal.MONEY_IN_FLIGHT: _l("The wage run cannot be cancelled now: a submitted wage file has not been answered by "
                        "the bank yet (money in flight). Cancel it once the bank's statement has arrived."),
    "CancelRequested": _l("Cancellation of this process was already requested."),
    "Cancelling": _l("This process is being cancelled: no further step is possible."),
    RegistrationRefusal.UNKNOWN_ACTOR: _l("Your account is not known to the process. Please log in again."),
    RegistrationRefusal.UNKNOWN_APPLICATION: _l("The process does not know this application."),
}

# punch corrections (补卡): the request's facts (domain/corrections.py) and the approval's process
# (web/attendance/corrections.py)
PUNCH_CORRECTION_REFUSALS = {
    CorrectionRefusal.NOT_PENDING: _l("This correction has already been decided."),
    CorrectionRefusal.BUSY: _l("Another decision on this correction is in progress. Please try again in a moment."),
    CorrectionRefusal.OWN_REQUEST: _l("You requested this correction: another person of the project must approve or refuse it."),
    CorrectionRefusal.BAD_DECISION: _l("Unknown decision."),
    CorrectionRefusal.REASON_REQUIRED: _l("A reason is required."),
    CorrectionRefusal.NOT_APPROVER: _l("Only a project account of this project can approve or refuse a correction."),
    CorrectionRefusal.UNKNOWN_CORRECTION: _l("This correction does not exist."),
    CorrectionRefusal.NOT_REQUESTER: _l("Only the project's staff, or the worker's own company, can request a correction."),
    CorrectionRefusal.UNKNOWN_WORKER: _l("This worker is not on the project."),
    CorrectionRefusal.BAD_DAY: _l("The day must be a day of the worker's engagement, and not in the future."),
    CorrectionRefusal.FUTURE_TIME: _l("The corrected time is in the future."),
    CorrectionRefusal.BAD_DIRECTION: _l("Choose in or out."),
    CorrectionRefusal.BAD_TIME: _l("Enter the time as HH:MM."),
    CorrectionRefusal.REASON_TOO_LONG: _l("The reason is too long (at most 300 characters)."),
    CorrectionRefusal.DUPLICATE: _l("A correction of this worker, day and direction is already waiting or approved."),
}

# the wage run: opening a month (domain/wage_run.py open_run), then its process (web/payroll/)
RUN_ERRORS = {
    WageRunRefusal.BAD_MONTH: _l("Not a valid month: enter it as YYYY-MM."),
    WageRunRefusal.NO_WAGE_ACCOUNT: _l("The project has no bound wage account yet."),
    WageRunRefusal.RUN_EXISTS: _l("A wage run for this month already exists."),
    WageRunRefusal.FUTURE_MONTH: _l("This month has not begun yet: a wage run can be opened for the current month or an earlier one."),
}

PAYROLL_REFUSALS = {
    WageRunRefusal.WRONG_STEP: _l("The run is not at this step any more. Please look at it again."),
    WageRunRefusal.BUSY: _l("Another action on this run is in progress. Please try again in a moment."),
    WageRunRefusal.MAKER_CHECKER: _l("The specialist who uploaded the wage table cannot submit the wage file: "
        "another payroll specialist must do it."),
    WageRunRefusal.STALE_BATCH: _l("The wage file has changed since this page was opened. Please download it again."),
    WageRunRefusal.WAGE_TABLE_INVALID: _l("The wage table has errors. Download the error report, correct the table "
        "and upload it again."),
    WageRunRefusal.SIGNATURE_REFUSED: _l("The signature was refused."),
    WageRunRefusal.BANK_REFUSED: _l("The bank refused the file."),
    WageRunRefusal.NOTHING_TO_REISSUE: _l("There are no failed lines to re-issue."),
    WageRunRefusal.REASON_REQUIRED: _l("A reason is required."),
    WageRunRefusal.NOT_FAILED: _l("Only a failed line can be settled."),
    WageRunRefusal.UNKNOWN_LINE: _l("This line is not one of the run's lines. Please look at the run again."),
    WageRunRefusal.UNKNOWN_STATEMENT: _l("A bank statement does not belong to this run: it was not applied."),
    WageRunRefusal.STATEMENT_REFUSED: _l("A bank statement failed verification: it was not applied."),
    WageRunRefusal.MISSING_CARD: _l("A worker of the table has no payroll card."),
    WageRunRefusal.EMPTY_BATCH: _l("The wage table has no line to pay."),
    WageRunRefusal.SAME_FAILED_CARD: _l("A failed line cannot be re-issued to the card the bank refused (closed, unknown to the "
        "bank or in another name). The project account replaces the worker's payroll card "
        "first; or mark the line as settled otherwise."),
    WageRunRefusal.CANCELLING: _l("This wage run is being cancelled by an administrator: no further step is possible."),
}

# the wage account binding's agreement (web/payroll/accounts.py; then PAYROLL_REFUSALS)
ACCEPT_REFUSALS = {
    BindingRefusal.NOT_AWAITING_AGREEMENT: _l("The account is not waiting for the agreement any more. Please look at it again."),
    BindingRefusal.NOT_PROJECT_SPECIALIST: _l("Only a payroll specialist of the project can accept the agreement."),
    BindingRefusal.SIGNATURE_REFUSED: _l("The signature was refused."),
    BindingRefusal.WRONG_ACCOUNT: _l("This process binds another account."),
    BindingRefusal.BUSY: _l("Another action on this account is in progress. Please try again in a moment."),
    BindingRefusal.UNKNOWN_ACCOUNT: _l("This wage account is not known any more. Please look at the accounts again."),
}

# the worker exit: its facts (domain/worker_exit.py) and its process (web/project/)
EXIT_ERRORS = {
    ExitRefusal.NOT_FOUND: _l("Not found."),
    ExitRefusal.ALREADY_REQUESTED: _l("An exit of this worker has already been requested."),
    ExitRefusal.ALREADY_EXITED: _l("This worker has already exited the project."),
    ExitRefusal.NOT_EXITING: _l("No exit of this worker is under way."),
    ExitRefusal.REASON_REQUIRED_FACT: _l("A reason is required."),
    ExitRefusal.REASON_TOO_LONG_FACT: _l("The reason is too long (at most 200 characters)."),
}

EXIT_REFUSALS = {
    ExitRefusal.NOT_WAITING: _l("The exit can no longer be withdrawn."),
    ExitRefusal.NOT_REQUESTER: _l("Only the account that requested the exit can withdraw it."),
    ExitRefusal.REASON_REQUIRED: _l("A reason is required."),
    ExitRefusal.REASON_TOO_LONG: _l("The reason is too long (at most 200 characters)."),
    ExitRefusal.NOT_EXITING: _l("No exit of this worker is under way."),
}

# the registration's correction by the applicant (web/public/)
CORRECTION_REFUSALS = {
    RegistrationRefusal.UNKNOWN_CORRECTION: _l("The correction was not found. Please open the form again and submit it again."),
    RegistrationRefusal.STALE_CORRECTION: _l("The application has changed since this form was opened. Please open it again."),
    RegistrationRefusal.WRONG_APPLICATION: _l("This correction belongs to another application."),
}


# the enrolment (web/enrolment/)
ENROLMENT_REFUSALS = {
    EnrolmentRefusal.NOT_FOUND: _l("This enrolment does not exist."),
    EnrolmentRefusal.NOT_IN_DUPLICATE_REVIEW: _l("This enrolment no longer waits for a decision on a duplicate."),
    EnrolmentRefusal.UNKNOWN_DECISION: _l("Choose whether to continue or to cancel the enrolment."),
    EnrolmentRefusal.REASON_REQUIRED: _l("Give a reason (at most 200 characters) for cancelling the enrolment."),
    EnrolmentRefusal.NOT_AWAITING_DOCUMENTS: _l("This enrolment does not wait for the contract or the training now."),
    EnrolmentRefusal.CONTRACT_ON_FILE: _l("The signed contract is already on file."),
    EnrolmentRefusal.TRAINING_RECORDED: _l("The safety training is already recorded."),
    EnrolmentRefusal.SCAN_REQUIRED: _l("Upload the scan of the signed document."),
    EnrolmentRefusal.COURSE_REQUIRED: _l("Enter the training course (at most 100 characters)."),
    EnrolmentRefusal.HOURS_INVALID: _l("Enter the training hours: more than 0 and at most 200."),
    EnrolmentRefusal.DATE_INVALID: _l("Enter the training date."),
    EnrolmentRefusal.UNKNOWN_FILE: _l("The uploaded file was not found. Upload it again."),
    EnrolmentRefusal.UNKNOWN_ACTOR: _l("Your account was not found. Log in again."),
    EnrolmentRefusal.BUSY: _l("Another action on this enrolment is in progress. Try again in a moment."),
    EnrolmentRefusal.CASE_FINISHED: _l("This enrolment has ended."),
}


# attendance devices (web/attendance/) and the signed punch API (web/attendance_api/)
DEVICE_REFUSALS = {
    DeviceRefusal.BAD_SERIAL: _l("Enter the device's serial number: letters, digits, '.', ':', '_' or '-', at most 64."),
    DeviceRefusal.SERIAL_TAKEN: _l("A device with this serial number is already registered."),
    DeviceRefusal.BAD_KIND: _l("Choose whether the device is a gate or a terminal."),
    DeviceRefusal.BAD_PROTOCOL: _l("Choose how the device talks to the platform."),
    DeviceRefusal.BAD_SOURCES: _l("Enter the allowed source addresses as networks separated by commas, "
                                  "e.g. 10.1.2.0/24, 203.0.113.7 (at most 500 characters)."),
    DeviceRefusal.ALREADY_REVOKED: _l("This device is already revoked."),
    DeviceRefusal.ALREADY_RESOLVED: _l("This punch has already been resolved."),
    DeviceRefusal.WORKER_STILL_UNKNOWN: _l("The worker this punch names is still not admitted to the project: "
                                           "it cannot be stored as a punch."),
}
INGEST_REFUSALS = {
    IngestRefusal.MISSING_HEADERS: _l("The request is not signed: the device, timestamp, nonce and signature headers "
                                      "are required."),
    IngestRefusal.BAD_SIGNATURE: _l("The request's signature is wrong."),
    IngestRefusal.STALE_TIMESTAMP: _l("The request's timestamp is more than 5 minutes from the platform's clock."),
    IngestRefusal.BAD_NONCE: _l("The request's nonce must be 16 to 64 letters, digits, '_' or '-'."),
    IngestRefusal.REPLAYED_REQUEST: _l("This request has been received before (its nonce is used)."),
    IngestRefusal.UNKNOWN_DEVICE: _l("No device with this serial number is registered."),
    IngestRefusal.REVOKED_DEVICE: _l("This device has been revoked."),
    IngestRefusal.WRONG_PROTOCOL: _l("This device is registered for another protocol."),
    IngestRefusal.SOURCE_NOT_ALLOWED: _l("This device may not connect from this address."),
    IngestRefusal.MALFORMED_BATCH: _l("The body must be a JSON object with a non-empty list \"punches\"."),
    IngestRefusal.BATCH_TOO_LARGE: _l("The batch is too large: send at most %(items)s punches per request."),
    IngestRefusal.BUSY: _l("The platform is busy with other devices' batches: nothing of this batch was stored; "
                           "send it again in a moment."),
}
ITEM_ERRORS = {
    ItemError.NOT_AN_OBJECT: _l("The punch is not a JSON object."),
    ItemError.MISSING_FIELD: _l("A required field is missing."),
    ItemError.BAD_SEQ: _l("The sequence number must be a whole number from 1 to 2147483647."),
    ItemError.BAD_WORKER: _l("The worker must be a worker id (a whole number)."),
    ItemError.BAD_TIME: _l("The time must be ISO-8601 with an offset, e.g. 2026-12-03T07:31:05+08:00."),
    ItemError.BAD_DIRECTION: _l("The direction must be \"in\" or \"out\"."),
    ItemError.BAD_SCORE: _l("The match score must be a whole number from 0 to 1000, or null."),
    ItemError.BAD_PHOTO: _l("The photo must be a base64 JPEG, and its hash 64 hex digits."),
    ItemError.PHOTO_TOO_LARGE: _l("The photo is too large (at most 512 KiB)."),
    ItemError.PHOTO_HASH_MISMATCH: _l("The photo does not match its sha256: it was altered or damaged."),
    ItemError.SERIAL_MISMATCH: _l("The punch names another device than the one that signed the request."),
    ItemError.SEQ_REPEATED_IN_BATCH: _l("This sequence number appears twice in the batch with different content."),
    ItemError.CONFLICTING_RESEND: _l("This sequence number is already stored with other content: nothing was changed."),
}


def refusal_message(code: str, *tables: dict) -> str:
    """The translated message of a process refusal code: the first of `tables` (a page's own
    wording) that knows it, else REFUSALS; an unknown code gets the generic "Refused", logged."""
    for table in (*tables, REFUSALS):
        if code in table:
            return str(table[code])
    logging.getLogger("shiming.web").warning("no message for the refusal code %s", code)
    return str(REFUSALS["Refused"])
