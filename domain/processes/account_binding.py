"""Wage special account binding (PAY-2), WageAccountBindingWorkflow: vocabulary, messages, helpers.

I/O-free (see domain/processes/__init__.py). The StrEnum values are the strings stored in the
database and written in the committed histories: never change one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum, nonmember
from typing import Optional

AGREEMENT_VERSION = "2026-1"
AGREEMENT_KIND = "shiming.wage_account_agreement"
_SIGNED_AT = "%Y-%m-%dT%H:%M:%SZ"


class AccountStatus(StrEnum):
    """wage_account.status."""

    BINDING = "binding"
    BOUND = "bound"
    REFUSED = "refused"
    UNBOUND = "unbound"

    ACTIVE = nonmember((BINDING, BOUND))  # at most one of these per project


class UnboundReason(StrEnum):
    """wage_account.refusal_reason of an `unbound` account (a refused one keeps the bank's code)."""

    EXPIRED = "EXPIRED"  # the agreement was not accepted in time
    CANCELLED = "CANCELLED"  # an administrator cancelled the process before it was bound


class BindingStatus(StrEnum):
    """Where the binding process is (its query's and result's `status`)."""

    VALIDATING = "validating"
    AWAITING_AGREEMENT = "awaiting_agreement"
    BOUND = "bound"
    REFUSED = "refused"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Refusal(StrEnum):
    """Refusal codes of the process's update and activities, and of adding an account (snake case,
    domain/wage_account.py). The bank's own codes (NOT_FOUND …) are bank_connectors/protocol.py's."""

    WRONG_ACCOUNT = "WrongAccount"
    NOT_AWAITING_AGREEMENT = "NotAwaitingAgreement"
    BUSY = "Busy"
    SIGNATURE_REFUSED = "SignatureRefused"
    UNKNOWN_ACCOUNT = "UnknownAccount"
    NOT_PROJECT_SPECIALIST = "NotProjectSpecialist"
    BAD_BANK = "bad_bank"
    BAD_ACCOUNT_NUMBER = "bad_account_number"
    BAD_ACCOUNT_NAME = "bad_account_name"
    ACCOUNT_EXISTS = "account_exists"
    NO_PROJECT = "no_project"


def workflow_id_for(project_id: int, wage_account_id: int) -> str:
    """The business key of one binding: the project and the account row it binds."""
    return f"wage-account-{project_id}-{wage_account_id}"


def agreement_document(*, wage_account_id: int, actor_id: int, accepted_at: datetime) -> str:
    """The canonical JSON a specialist signs to accept the agreement (sorted keys, no spaces)."""
    if accepted_at.tzinfo is not None:
        accepted_at = accepted_at.astimezone(timezone.utc).replace(tzinfo=None)
    return json.dumps({"kind": AGREEMENT_KIND, "agreement_version": AGREEMENT_VERSION,
                       "wage_account_id": wage_account_id, "actor_id": actor_id,
                       "accepted_at": accepted_at.strftime(_SIGNED_AT)},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class AgreementFields:
    wage_account_id: int
    actor_id: int
    accepted_at: datetime  # naive UTC


def parse_agreement_document(document: str) -> Optional[AgreementFields]:
    """The fields of a canonical agreement document of the current version, else None."""
    try:
        data = json.loads(document)
        accepted_at = datetime.strptime(data["accepted_at"], _SIGNED_AT)
        fields = AgreementFields(int(data["wage_account_id"]), int(data["actor_id"]), accepted_at)
    except (ValueError, KeyError, TypeError):
        return None
    if data.get("kind") != AGREEMENT_KIND or data.get("agreement_version") != AGREEMENT_VERSION:
        return None
    if agreement_document(wage_account_id=fields.wage_account_id, actor_id=fields.actor_id,
                          accepted_at=accepted_at) != document:
        return None
    return fields


# --- messages of the workflow (web ↔ workflow) -----------------------------------------------


@dataclass
class BindingInput:
    wage_account_id: int


@dataclass
class BindingResult:
    status: str
    code: str = ""  # the bank's refusal code when refused


@dataclass
class BindingStatusView:
    status: str
    wage_account_id: int
    code: str = ""


@dataclass
class AcceptAgreementInput:
    """The update `accept_agreement` and the activity of the same name take this."""

    wage_account_id: int
    actor_id: int
    document: str  # agreement_document(), ids and a time only
    signature: str  # hex Ed25519 signature of `document` with the actor's security-password key
    signing_key_id: int


# --- messages of the activities (workflow ↔ activities) --------------------------------------


@dataclass
class BindingRef:
    wage_account_id: int


@dataclass
class ValidateAccountResult:
    ok: bool
    code: str = ""  # the bank's refusal code (NOT_FOUND, NAME_MISMATCH, NOT_WAGE_ACCOUNT, CLOSED)


@dataclass
class CancelBindingInput:
    wage_account_id: int
    reason: str
