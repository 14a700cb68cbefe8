"""The wage run's I/O-free vocabulary (PAY-3…7), shared by its workflow, activities, the bank
connectors and the web. Issue 9's second slice moves the rest of the run's steps, statuses and
messages here; for now it holds what the domain and the bank connectors must agree on.
"""
from __future__ import annotations

from enum import StrEnum


class LineFailure(StrEnum):
    """Why the bank failed a statement line: every one is about the card itself (the wage-file
    protocol's failure codes, docs/bank-protocol.md)."""

    CARD_CLOSED = "CARD_CLOSED"
    CARD_UNKNOWN = "CARD_UNKNOWN"
    NAME_MISMATCH = "NAME_MISMATCH"  # the card is in another holder's name
