"""The reference bank: a separate party with its own ledger, database and keys (`shiming bank`).

It is the test double for a real bank and speaks the protocol of docs/bank-protocol.md: it
validates accounts, takes sealed wage files (over HTTP or an exchange folder), pays each line from
its ledger in the background and delivers a signed statement, retrying until acknowledged.
"""
from .app import create_bank_app
from .bank import BankConfig, ReferenceBank, SubmissionRefused
from .server import run_bank

__all__ = ["BankConfig", "ReferenceBank", "SubmissionRefused", "create_bank_app", "run_bank"]
