"""Delivering the reference bank's statements: POSTed to the platform's callback, or written to
the exchange folder, retried with capped exponential backoff until acknowledged. The state is in
the database (`StatementRecord`), so a restarted bank carries on where it stopped."""
from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from domain.files import write_atomic

from ..exchange import STATEMENT_SUFFIX
from .models import StatementRecord, utcnow

if TYPE_CHECKING:
    from .bank import BankConfig

log = logging.getLogger("shiming.bank")

CALLBACK_TIMEOUT = 5.0


class StatementDelivery:
    """The deliverer thread's work; `wake()` when a statement is issued or the bank stops."""

    def __init__(self, config: "BankConfig", session_factory: sessionmaker, stop: threading.Event):
        self.config = config
        self.Session = session_factory
        self._stop = stop
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.deliver_due()
            except Exception:  # noqa: BLE001 - keep delivering; the row is retried
                log.exception("statement delivery failed")
                wait = self.config.retry_cap
            self._wake.wait(timeout=wait)
            self._wake.clear()

    def _deliverable(self):
        channels = []
        if self.config.callback_url:
            channels.append("http")
        if self.config.exchange_dir is not None:
            channels.append("exchange")
        return select(StatementRecord).where(StatementRecord.delivered_at.is_(None),
                                             StatementRecord.channel.in_(channels))

    def deliver_due(self) -> float:
        """Deliver every statement that is due; returns the seconds until the next one is."""
        now = utcnow()
        with self.Session() as session:
            due = session.scalars(self._deliverable().where(StatementRecord.next_attempt_at <= now)
                                  .order_by(StatementRecord.next_attempt_at)).all()
        for record in due:
            if self._stop.is_set():
                break
            error = self._deliver(record)
            with self.Session.begin() as session:
                row = session.get(StatementRecord, record.statement_id)
                row.attempts += 1
                if error is None:
                    row.delivered_at = utcnow()
                    row.last_error = ""
                else:
                    delay = min(self.config.retry_cap, self.config.retry_base * 2 ** (row.attempts - 1))
                    row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                    row.last_error = error[:300]
                    log.warning("statement %s not acknowledged (%s); retry in %.2fs",
                                row.statement_id, error, delay)
        with self.Session() as session:
            upcoming = session.scalar(self._deliverable().order_by(StatementRecord.next_attempt_at).limit(1))
        if upcoming is None:
            return self.config.retry_cap
        return max(0.05, min(self.config.retry_cap, (upcoming.next_attempt_at - utcnow()).total_seconds()))

    def _deliver(self, record: StatementRecord) -> Optional[str]:
        """None when the statement reached the platform, else what went wrong."""
        if record.channel == "exchange":
            incoming = Path(self.config.exchange_dir) / "incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            write_atomic(incoming / (record.statement_id + STATEMENT_SUFFIX), record.body)
            return None
        req = urllib.request.Request(self.config.callback_url, data=record.body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": record.statement_id,
            "X-Statement-Id": record.statement_id, "X-Batch-Id": record.batch_id})
        try:
            with urllib.request.urlopen(req, timeout=CALLBACK_TIMEOUT) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except Exception as exc:  # noqa: BLE001 - unreachable, reset, timeout: all retried
            return f"{type(exc).__name__}: {exc}"
        return None if 200 <= status < 300 else f"HTTP {status}"
