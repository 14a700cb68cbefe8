"""Wage special account (工资专户) binding facts (PAY-2).

A payroll specialist adds an account for their project: the row starts as `binding` with its
number encrypted at rest (PII cipher, context "account_number") and shown as its last four digits
only. WageAccountBindingWorkflow (id = `workflow_id_for(project, account)`) asks the bank to
validate it; the bank refuses (status `refused`, the bank's code and reason kept) or the specialist
accepts the agreement, signed with their security password (status `bound`). An agreement not
accepted in time leaves the binding `unbound` with reason `EXPIRED`; an administrator's cancel of
the process while it is not bound yet leaves it `unbound` with reason `CANCELLED` (the project may
then add an account again).

A project has at most one account that is `binding` or `bound` at a time.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .models import Account, Project, Role, WageAccount, utcnow
from .pii import PiiCipher

ACCOUNT_NUMBER = "account_number"  # PII cipher context and look-up hash kind
BINDING, BOUND, REFUSED, UNBOUND = "binding", "bound", "refused", "unbound"
ACTIVE = (BINDING, BOUND)
EXPIRED = "EXPIRED"  # refusal_reason of a binding whose agreement was not accepted in time
CANCELLED = "CANCELLED"  # refusal_reason of a binding whose process an administrator cancelled

# The banks a project can bind an account at; the worker's configured connector talks to it.
BANK_CODES = ("REFBANK",)

AGREEMENT_VERSION = "2026-1"
AGREEMENT_KIND = "shiming.wage_account_agreement"

ACCOUNT_NAME_MAX = 100
REASON_MAX = 200
_ACCOUNT_RE = re.compile(r"^[0-9A-Za-z-]{4,40}$")  # docs/bank-protocol.md: up to 40 of 0-9 A-Z a-z -
_SIGNED_AT = "%Y-%m-%dT%H:%M:%SZ"


class WageAccountError(Exception):
    """`code`: bad_bank | bad_account_number | bad_account_name | account_exists | no_project."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def normalize_account_number(value: str) -> str:
    return re.sub(r"\s+", "", value or "")


def mask_account_number(last4: str) -> str:
    return "**** " + last4


def workflow_id_for(project_id: int, wage_account_id: int) -> str:
    """The business key of one binding: the project and the account row it binds."""
    return f"wage-account-{project_id}-{wage_account_id}"


def active_account(session: Session, project_id: int) -> Optional[WageAccount]:
    """The project's account that is being bound or is bound, if any."""
    return session.scalar(select(WageAccount).where(WageAccount.project_id == project_id,
                                                    WageAccount.status.in_(ACTIVE))
                          .order_by(WageAccount.id.desc()).limit(1))


def account_number_of(cipher: PiiCipher, account: WageAccount) -> str:
    return cipher.decrypt(account.account_number_enc, ACCOUNT_NUMBER)


def start_binding(session: Session, cipher: PiiCipher, *, project_id: int, actor: Account, bank_code: str,
                  account_number: str, account_name: str, remote_addr: Optional[str] = None) -> WageAccount:
    """A new `binding` row for the project, with its workflow id; refused while another is active.

    Checks everything before writing; the caller's transaction commits the row and its audit row
    together, then starts the workflow.
    """
    number = normalize_account_number(account_number)
    name = (account_name or "").strip()
    if bank_code not in BANK_CODES:
        raise WageAccountError("bad_bank")
    if not _ACCOUNT_RE.fullmatch(number):
        raise WageAccountError("bad_account_number")
    if not name or len(name) > ACCOUNT_NAME_MAX:
        raise WageAccountError("bad_account_name")
    # the project row is locked (MySQL) so two starts for one project queue up; SQLite serialises writers
    project = session.scalar(select(Project).where(Project.id == project_id).with_for_update())
    if project is None:
        raise WageAccountError("no_project")
    if active_account(session, project_id) is not None:
        raise WageAccountError("account_exists")
    row = WageAccount(project_id=project_id, bank_code=bank_code,
                      account_number_enc=cipher.encrypt(number, ACCOUNT_NUMBER),
                      account_number_hash=cipher.lookup_hash(number, ACCOUNT_NUMBER),
                      account_last4=number[-4:], account_name=name, status=BINDING, created_at=utcnow())
    session.add(row)
    session.flush()
    row.workflow_id = workflow_id_for(project_id, row.id)
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name or actor.username,
                 action="wage_account.start", target_type="wage_account", target_id=row.id,
                 business_key=row.workflow_id, remote_addr=remote_addr,
                 detail={"bank_code": bank_code, "account": mask_account_number(row.account_last4)})
    return row


def refuse(session: Session, account: WageAccount, code: str, reason: str) -> bool:
    """The bank refused the account: status `refused` with `CODE: reason`. False if already decided."""
    if account.status != BINDING:
        return False
    account.status = REFUSED
    account.refusal_reason = f"{code}: {reason}"[:REASON_MAX] if reason else code[:REASON_MAX]
    audit.record(session, actor_id=None, actor_name="bank", action="wage_account.refused",
                 target_type="wage_account", target_id=account.id, business_key=account.workflow_id,
                 reason=account.refusal_reason)
    return True


def expire(session: Session, account: WageAccount) -> bool:
    """The agreement was not accepted in time: status `unbound`, reason EXPIRED. False if decided."""
    if account.status != BINDING:
        return False
    account.status = UNBOUND
    account.refusal_reason = EXPIRED
    audit.record(session, actor_id=None, actor_name="system", action="wage_account.expired",
                 target_type="wage_account", target_id=account.id, business_key=account.workflow_id,
                 reason=EXPIRED)
    return True


def cancel(session: Session, account: WageAccount, reason: str) -> bool:
    """The process was cancelled before the account was bound: status `unbound`, reason CANCELLED.
    False when the binding was already decided (bound, refused, expired) or cancelled."""
    if account.status != BINDING:
        return False
    account.status = UNBOUND
    account.refusal_reason = CANCELLED
    audit.record(session, actor_id=None, actor_name="system", action="wage_account.cancelled",
                 target_type="wage_account", target_id=account.id, business_key=account.workflow_id,
                 reason=(reason or CANCELLED)[:REASON_MAX])
    return True


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


def may_bind(session: Session, actor_id: int, account: WageAccount) -> bool:
    """Whether the actor is an active payroll specialist of the account's project."""
    actor = session.get(Account, actor_id)
    return (actor is not None and actor.is_active and actor.role == Role.PAYROLL_SPECIALIST
            and actor.project_id == account.project_id)


def bind(session: Session, account: WageAccount, actor: Account, accepted_at: datetime,
         signature: str, signing_key_id: int) -> bool:
    """Mark the account bound by `actor`; False if it was already bound by this acceptance."""
    if account.status == BOUND:
        return False
    account.status = BOUND
    account.bound_by = actor.id
    account.agreement_accepted_at = accepted_at
    account.refusal_reason = None
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name or actor.username,
                 action="wage_account.bound", target_type="wage_account", target_id=account.id,
                 business_key=account.workflow_id,
                 detail={"agreement_version": AGREEMENT_VERSION, "signing_key_id": signing_key_id,
                         "signature": signature})
    return True
