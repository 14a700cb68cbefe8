"""The BankConnector protocol: what the platform asks of any bank, over any channel.

Two calls go to the bank, each with an idempotency key derived from the case (for example
`f"{run_id}-submit-{version}"`), so a retried activity asks the same question twice and gets the
same answer:

- `validate_account(AccountCheck)` → `AccountCheckResult` (a business answer, never an exception):
  of a wage special account (`kind="wage_account"`: exists, holder's name, open, a wage special
  account) or of a worker's personal card (`kind="card"`: exists, holder's name, open);
- `submit_wage_file(batch_id, envelope, idempotency_key)` → `SubmitResult`.

Statements come back the other way: the HTTP bank POSTs them to the platform's callback URL; the
file-exchange bank drops them in the incoming folder (`FileExchangeConnector.poll_statements`).
Either way the platform checks them with `wagefile.verify_statement`.

Network trouble raises `BankUnavailable` (retry later); a refusal is a result with a `code`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# account check codes
NOT_FOUND = "NOT_FOUND"
NAME_MISMATCH = "NAME_MISMATCH"
NOT_WAGE_ACCOUNT = "NOT_WAGE_ACCOUNT"
CLOSED = "CLOSED"
ACCOUNT_CODES = (NOT_FOUND, NAME_MISMATCH, NOT_WAGE_ACCOUNT, CLOSED)

# what an account check is about
WAGE_ACCOUNT = "wage_account"  # a project's wage special account (工资专户)
CARD = "card"  # a worker's personal payroll card: never NOT_WAGE_ACCOUNT
CHECK_KINDS = (WAGE_ACCOUNT, CARD)

# submission refusal codes (besides the wage-file codes of wagefile.WageFileError)
BATCH_CONFLICT = "BATCH_CONFLICT"
IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
PAYER_ACCOUNT_INVALID = "PAYER_ACCOUNT_INVALID"


class BankUnavailable(RuntimeError):
    """The bank could not be reached or answered with a server error: retry later."""


@dataclass(frozen=True)
class AccountCheck:
    account_number: str
    account_name: str  # the holder's name: the account's name, or the worker's name for a card
    idempotency_key: str
    kind: str = WAGE_ACCOUNT  # WAGE_ACCOUNT | CARD


@dataclass(frozen=True)
class AccountCheckResult:
    ok: bool
    code: str = ""  # NOT_FOUND | NAME_MISMATCH | NOT_WAGE_ACCOUNT | CLOSED when not ok (a card: never NOT_WAGE_ACCOUNT)
    reason: str = ""


@dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    batch_id: str
    duplicate: bool = False  # the bank already had this batch with this content: nothing new happens
    code: str = ""  # when not accepted: BATCH_CONFLICT, BAD_SIGNATURE, TOTAL_MISMATCH, …
    reason: str = ""


@runtime_checkable
class BankConnector(Protocol):
    def validate_account(self, check: AccountCheck) -> AccountCheckResult: ...

    def submit_wage_file(self, batch_id: str, envelope: bytes, idempotency_key: str) -> SubmitResult: ...
