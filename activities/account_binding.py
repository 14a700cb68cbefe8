"""Activities of WageAccountBindingWorkflow (PAY-2); their messages: domain/processes/account_binding.py.

Ids in, ids and codes out: the account number is read from the database (decrypted only in
memory, for the bank call) and never enters a workflow payload. The bank is reached through the
connector the worker is configured with (HTTP or exchange folder, see shiming/worker.py); each
question carries an idempotency key derived from the case. Each activity is idempotent: a retry
finds the row already decided and changes nothing twice.
"""
from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.refusal import refusal
from bank_connectors.protocol import AccountCheck, BankConnector
from domain import signing
from domain import wage_account as wa
from domain.models import Account, SigningKey, WageAccount
from domain.processes.account_binding import (
    AcceptAgreementInput,
    BindingRef,
    CancelBindingInput,
    Refusal,
    ValidateAccountResult,
    parse_agreement_document,
)
from domain.services import Services


def _refuse(message: str, code: str) -> ApplicationError:
    return refusal(message, code)


class AccountBindingActivities:
    def __init__(self, services: Services, connector: BankConnector):
        self.s = services
        self.connector = connector

    def _account(self, session, wage_account_id: int) -> WageAccount:
        account = session.get(WageAccount, wage_account_id)
        if account is None:
            raise _refuse("unknown wage account", Refusal.UNKNOWN_ACCOUNT)
        return account

    @activity.defn
    def validate_wage_account(self, inp: BindingRef) -> ValidateAccountResult:
        """Ask the bank: exists, name matches, open, a wage special account. A refusal is recorded."""
        with self.s.Session() as session:
            account = self._account(session, inp.wage_account_id)
            if account.status == wa.REFUSED:  # a retry after the refusal was written
                return ValidateAccountResult(False, (account.refusal_reason or "").split(":")[0])
            if account.status != wa.BINDING:
                return ValidateAccountResult(account.status == wa.BOUND)
            check = AccountCheck(account_number=wa.account_number_of(self.s.cipher, account),
                                 account_name=account.account_name,
                                 idempotency_key=f"{account.workflow_id}-validate")
        result = self.connector.validate_account(check)  # outside any transaction; BankUnavailable retries
        if result.ok:
            return ValidateAccountResult(True)
        with self.s.Session.begin() as session:
            wa.refuse(session, self._account(session, inp.wage_account_id), result.code, result.reason)
        return ValidateAccountResult(False, result.code)

    @activity.defn
    def accept_agreement(self, inp: AcceptAgreementInput) -> None:
        """Verify the actor and their signed acceptance, then mark the account bound."""
        with self.s.Session.begin() as session:
            account = self._account(session, inp.wage_account_id)
            if not wa.may_bind(session, inp.actor_id, account):
                raise _refuse("only a payroll specialist of the project can accept", Refusal.NOT_PROJECT_SPECIALIST)
            fields = parse_agreement_document(inp.document)
            if fields is None or fields.wage_account_id != account.id or fields.actor_id != inp.actor_id:
                raise _refuse("the signed agreement does not match the request", Refusal.SIGNATURE_REFUSED)
            key = session.get(SigningKey, inp.signing_key_id)
            if (key is None or key.account_id != inp.actor_id or key.retired_at is not None
                    or not signing.verify(session, inp.signing_key_id, inp.document, inp.signature)):
                raise _refuse("the agreement signature was refused", Refusal.SIGNATURE_REFUSED)
            if account.status == wa.BOUND and account.bound_by == inp.actor_id:
                return  # a retry after the commit
            if account.status != wa.BINDING:
                raise _refuse("the account is not waiting for the agreement", Refusal.NOT_AWAITING_AGREEMENT)
            wa.bind(session, account, session.get(Account, inp.actor_id), fields.accepted_at,
                    inp.signature, inp.signing_key_id)

    @activity.defn
    def expire_binding(self, inp: BindingRef) -> None:
        with self.s.Session.begin() as session:
            wa.expire(session, self._account(session, inp.wage_account_id))

    @activity.defn
    def cancel_binding(self, inp: CancelBindingInput) -> None:
        """The process was cancelled: a binding not yet decided ends `unbound` (idempotent)."""
        with self.s.Session.begin() as session:
            wa.cancel(session, self._account(session, inp.wage_account_id), inp.reason)

    def all(self) -> list:
        return [self.validate_wage_account, self.accept_agreement, self.expire_binding, self.cancel_binding]
