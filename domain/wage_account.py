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

import re
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .errors import CodedError
from .models import Account, Project, Role, WageAccount, utcnow
from .pii import PiiCipher
from .processes.account_binding import AGREEMENT_VERSION, AccountStatus, UnboundReason, workflow_id_for
from .processes.account_binding import Refusal as R

ACCOUNT_NUMBER = "account_number"  # PII cipher context and look-up hash kind
# the vocabulary is the process's (domain/processes/account_binding.py); short names for the facts
BINDING, BOUND, REFUSED, UNBOUND = AccountStatus.BINDING, AccountStatus.BOUND, AccountStatus.REFUSED, AccountStatus.UNBOUND
ACTIVE = AccountStatus.ACTIVE
EXPIRED, CANCELLED = UnboundReason.EXPIRED, UnboundReason.CANCELLED

# The banks a project can bind an account at; the worker's configured connector talks to it.
BANK_CODES = ("REFBANK",)

ACCOUNT_NAME_MAX = 100
REASON_MAX = 200
_ACCOUNT_RE = re.compile(r"^[0-9A-Za-z-]{4,40}$")  # docs/bank-protocol.md: up to 40 of 0-9 A-Z a-z -


class WageAccountError(CodedError):
    """`code`: the snake-case codes of domain.processes.account_binding.Refusal (bad_bank …)."""


def normalize_account_number(value: str) -> str:
    return re.sub(r"\s+", "", value or "")


def mask_account_number(last4: str) -> str:
    return "**** " + last4


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
        raise WageAccountError(R.BAD_BANK)
    if not _ACCOUNT_RE.fullmatch(number):
        raise WageAccountError(R.BAD_ACCOUNT_NUMBER)
    if not name or len(name) > ACCOUNT_NAME_MAX:
        raise WageAccountError(R.BAD_ACCOUNT_NAME)
    # the project row is locked (MySQL) so two starts for one project queue up; SQLite serialises writers
    project = session.scalar(select(Project).where(Project.id == project_id).with_for_update())
    if project is None:
        raise WageAccountError(R.NO_PROJECT)
    if active_account(session, project_id) is not None:
        raise WageAccountError(R.ACCOUNT_EXISTS)
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
