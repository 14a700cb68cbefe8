"""A bank for the tests that drive WageRunActivities directly (no Temporal, no bank process): it
speaks the real protocol, opens each sealed wage file with its own key pair, records its lines and
answers with statements signed by its own key."""
from __future__ import annotations

from dataclasses import dataclass, field

from bank_connectors.protocol import AccountCheckResult, SubmitResult
from bank_connectors.wagefile import CARD_CLOSED, Statement, StatementLine, open_wage_file, sign_statement

PAID_AT = "2026-11-05T08:00:00Z"


@dataclass
class RecordingBank:
    """The outside party: opens each envelope with the bank key pair and records its lines."""
    keys: object
    platform_public: object
    received: dict = field(default_factory=dict)  # batch_id -> (header, lines)
    calls: int = 0

    def validate_account(self, check):
        return AccountCheckResult(ok=True)

    def submit_wage_file(self, batch_id: str, envelope: bytes, idempotency_key: str) -> SubmitResult:
        self.calls += 1
        header, lines, _ = open_wage_file(envelope, bank_private_key=self.keys.encryption,
                                          platform_public_key=self.platform_public)
        assert header.batch_id == batch_id
        if batch_id in self.received:
            return SubmitResult(accepted=False, batch_id=batch_id, duplicate=True)
        self.received[batch_id] = (header, lines)
        return SubmitResult(accepted=True, batch_id=batch_id)

    def statement(self, batch_id: str, statement_id: str, outcomes: dict[int, bool]) -> bytes:
        _, lines = self.received[batch_id]
        stmt = Statement(statement_id=statement_id, batch_id=batch_id, issued_at=PAID_AT, lines=[
            StatementLine(seq=line.seq, status="paid", amount_fen=line.amount_fen, paid_at=PAID_AT)
            if outcomes[line.seq] else
            StatementLine(seq=line.seq, status="failed", amount_fen=line.amount_fen, code=CARD_CLOSED,
                          reason="the card is closed")
            for line in lines])
        return sign_statement(stmt, self.keys.signing)
