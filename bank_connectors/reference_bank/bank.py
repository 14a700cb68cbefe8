"""The reference bank's behaviour, independent of HTTP: ledger, submissions, payments, statements.

Three background threads do the asynchronous part: the payer (pays accepted batches line by line,
then issues one signed statement per batch), the deliverer (`delivery.py`: POSTs statements to the
platform's callback, or writes them to the exchange folder, retrying with capped exponential
backoff until acknowledged) and, with an exchange folder, the watcher (`exchange_watcher.py`).
Everything they need is in the database, so a restarted bank carries on where it stopped. The
ledger's rows and its account and card checks are `ledger.py`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from sqlalchemy import case, create_engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ..keys import load_or_create_keys
from ..protocol import (BATCH_CONFLICT, CARD, CHECK_KINDS, WAGE_ACCOUNT, IDEMPOTENCY_CONFLICT, PAYER_ACCOUNT_INVALID,
                        AccountCheckResult, SubmitResult)
from ..signing import ed25519_public_from_hex
from ..wagefile import (CARD_CLOSED, CARD_UNKNOWN, FAILED, PAID, Statement, StatementLine, WageFileError,
                        decode_wage_file, open_envelope, parse_envelope, sign_statement)
from ..wagefile import NAME_MISMATCH as LINE_NAME_MISMATCH
from . import ledger
from .delivery import StatementDelivery
from .models import Base, Batch, Card, LedgerAccount, Payment, PlatformKey, StatementRecord, utcnow

log = logging.getLogger("shiming.bank")

MAX_IDEMPOTENCY_KEY = 200


class SubmissionRefused(Exception):
    """A refused wage file: `status` is the HTTP status, `code` the protocol's refusal code."""

    def __init__(self, status: int, code: str, reason: str = ""):
        super().__init__(f"{code}: {reason}")
        self.status = status
        self.code = code
        self.reason = reason


@dataclass
class BankConfig:
    home: Path
    callback_url: Optional[str] = None
    exchange_dir: Optional[Path] = None
    retry_base: float = 0.25  # seconds before the first retry; doubles each time
    retry_cap: float = 5.0  # longest wait between delivery attempts
    pay_delay: float = 0.0  # seconds per line, to make the asynchrony visible in demos
    exchange_poll: float = 0.2


def statement_id_for(batch_id: str) -> str:
    return "ST-" + hashlib.sha256(batch_id.encode("utf-8")).hexdigest()[:32]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def prepare_home(home: Path) -> None:
    """The bank's own home: mode 0700, its database created 0600 (SQLite gives the -wal and -shm
    files the database's mode). It holds card numbers in the clear, as a bank's ledger does, so it
    is never inside the platform's data directory (docs/operations.md)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    db = home / "bank.db"
    fd = os.open(db, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for path in (db, home / "bank.db-wal", home / "bank.db-shm"):
        if path.exists():
            os.chmod(path, 0o600)


class ReferenceBank:
    def __init__(self, config: BankConfig):
        self.config = config
        prepare_home(config.home)
        self.engine = create_engine(f"sqlite:///{config.home / 'bank.db'}",
                                    connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.keys = load_or_create_keys(config.home / "keys")
        self._pay_queue: queue.Queue[Optional[str]] = queue.Queue()
        self._decoded: dict[str, tuple[str, list]] = {}  # batch id -> (plaintext sha256, lines) from submit
        self._stop = threading.Event()
        self.delivery = StatementDelivery(config, self.Session, self._stop)
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        from .exchange_watcher import ExchangeWatcher

        with self.Session() as session:
            for batch_id in session.scalars(select(Batch.batch_id).where(Batch.status != "settled")
                                            .order_by(Batch.id)):
                self._pay_queue.put(batch_id)
        workers = [("bank-payer", self._pay_loop), ("bank-deliverer", self.delivery.run)]
        if self.config.exchange_dir is not None:
            watcher = ExchangeWatcher(self, self.config.exchange_dir)
            workers.append(("bank-exchange", lambda: watcher.run(self._stop, self.config.exchange_poll)))
        for name, target in workers:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._pay_queue.put(None)
        self.delivery.wake()
        for thread in self._threads:
            thread.join(timeout=5)
        self.engine.dispose()

    # --- ledger (test-double administration) -----------------------------------------------------

    def upsert_accounts(self, items: list[dict]) -> int:
        rows = ledger.account_rows(items)
        with self.Session.begin() as session:
            for row in rows:
                session.merge(LedgerAccount(**row))
        return len(rows)

    def upsert_cards(self, items: list[dict]) -> int:
        rows = ledger.card_rows(items)
        with self.Session.begin() as session:
            for row in rows:
                session.merge(Card(**row))
        return len(rows)

    def add_platform_keys(self, items: list) -> int:
        keys = ledger.platform_keys(items)
        with self.Session.begin() as session:
            for signing, label in keys:
                if session.get(PlatformKey, signing) is None:
                    session.add(PlatformKey(signing=signing, label=label))
        return len(keys)

    def load_ledger(self, path: Path) -> None:
        """`{"accounts": […], "cards": […], "platform_keys": […]}`, any of them optional."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("a ledger file is a JSON object")
        self.upsert_accounts(data.get("accounts", []))
        self.upsert_cards(data.get("cards", []))
        self.add_platform_keys(data.get("platform_keys", []))

    # --- accounts --------------------------------------------------------------------------------

    def validate_account(self, number: str, name: str, kind: str = WAGE_ACCOUNT) -> AccountCheckResult:
        """Check a wage special account (`kind="wage_account"`) or a worker's card (`kind="card"`)."""
        if kind not in CHECK_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CHECK_KINDS)}")
        with self.Session() as session:
            if kind == CARD:
                return ledger.check_card(session, number, name)
            return ledger.check_account(session, number, name)

    # --- wage files ------------------------------------------------------------------------------

    def submit(self, envelope: bytes, idempotency_key: str, channel: str) -> SubmitResult:
        """Accept a sealed wage file for payment, or raise SubmissionRefused. Replays are duplicates."""
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise SubmissionRefused(400, "MISSING_IDEMPOTENCY_KEY", "an Idempotency-Key of 1-200 characters")
        try:
            signer = parse_envelope(envelope)["signer"]
            with self.Session() as session:
                known = session.get(PlatformKey, signer) is not None
            if not known:
                raise WageFileError("BAD_SIGNATURE", "the signer is not a registered platform key")
            batch_id, plaintext = open_envelope(envelope, bank_private_key=self.keys.encryption,
                                                platform_public_key=ed25519_public_from_hex(signer))
            header, lines = decode_wage_file(plaintext)
            if header.batch_id != batch_id:
                raise WageFileError("BATCH_ID_MISMATCH", f"envelope {batch_id}, header {header.batch_id}")
        except WageFileError as exc:
            raise SubmissionRefused(400, exc.code, exc.detail) from None
        plaintext_sha256 = hashlib.sha256(plaintext).hexdigest()
        for _attempt in range(2):  # a concurrent insert of the same batch is answered on the second pass
            try:
                with self.Session.begin() as session:
                    existing = session.scalar(select(Batch).where(Batch.batch_id == batch_id))
                    if existing is not None:
                        if existing.plaintext_sha256 != plaintext_sha256:
                            raise SubmissionRefused(409, BATCH_CONFLICT,
                                                    "this batch id was already used for another wage file")
                        return SubmitResult(accepted=True, batch_id=batch_id, duplicate=True)
                    if session.scalar(select(Batch.id).where(Batch.idempotency_key == idempotency_key)):
                        raise SubmissionRefused(409, IDEMPOTENCY_CONFLICT,
                                                "this idempotency key was used for another batch")
                    payer = ledger.check_account(session, header.payer_account, header.payer_name)
                    if not payer.ok:
                        raise SubmissionRefused(422, PAYER_ACCOUNT_INVALID, f"{payer.code}: {payer.reason}")
                    session.add(Batch(batch_id=batch_id, idempotency_key=idempotency_key,
                                      plaintext_sha256=plaintext_sha256,
                                      envelope_sha256=hashlib.sha256(envelope).hexdigest(), plaintext=plaintext,
                                      channel=channel, line_count=header.line_count, total_fen=header.total_fen))
                break
            except IntegrityError:
                continue
        else:
            raise SubmissionRefused(409, IDEMPOTENCY_CONFLICT, "a concurrent submission took this key")
        log.info("accepted batch %s: %d lines, %d fen (%s)", batch_id, header.line_count, header.total_fen, channel)
        self._decoded[batch_id] = (plaintext_sha256, lines)  # the payer need not decode it again
        self._pay_queue.put(batch_id)
        return SubmitResult(accepted=True, batch_id=batch_id)

    def batch_view(self, batch_id: str) -> Optional[dict]:
        with self.Session() as session:
            batch = session.scalar(select(Batch).where(Batch.batch_id == batch_id))
            if batch is None:
                return None
            # counted in SQL: a batch has thousands of payments and this is polled while they are made
            recorded, paid_fen = session.execute(
                select(func.count(), func.coalesce(func.sum(case((Payment.status == PAID, Payment.amount_fen),
                                                                 else_=0)), 0))
                .where(Payment.batch_id == batch_id)).one()
            statement = session.scalar(select(StatementRecord).where(StatementRecord.batch_id == batch_id))
            return {
                "batch_id": batch.batch_id, "status": batch.status, "channel": batch.channel,
                "line_count": batch.line_count, "total_fen": batch.total_fen,
                "received_at": iso(batch.received_at), "payments_recorded": recorded,
                "paid_fen": int(paid_fen),
                "statement_id": statement.statement_id if statement else None,
                "statement_delivered": bool(statement and statement.delivered_at),
                "delivery_attempts": statement.attempts if statement else 0,
            }

    def has_batch(self, batch_id: str) -> bool:
        with self.Session() as session:
            return session.scalar(select(Batch.id).where(Batch.batch_id == batch_id)) is not None

    def statement_body(self, batch_id: str) -> Optional[bytes]:
        with self.Session() as session:
            return session.scalar(select(StatementRecord.body).where(StatementRecord.batch_id == batch_id))

    # --- paying ----------------------------------------------------------------------------------

    def _pay_loop(self) -> None:
        while not self._stop.is_set():
            batch_id = self._pay_queue.get()
            if batch_id is None:
                return
            try:
                self.pay_batch(batch_id)
            except Exception:  # noqa: BLE001 - one bad batch must not stop the bank; it is retried at start
                log.exception("paying batch %s failed", batch_id)

    def pay_batch(self, batch_id: str) -> None:
        decoded = self._decoded.pop(batch_id, None)
        with self.Session.begin() as session:
            batch = session.scalar(select(Batch).where(Batch.batch_id == batch_id))
            if batch is None or batch.status == "settled":
                return
            batch.status = "paying"
            plaintext, plaintext_sha256 = batch.plaintext, batch.plaintext_sha256
        if decoded is not None and decoded[0] == plaintext_sha256:
            lines = decoded[1]
        else:  # after a restart: only the stored file is known
            _header, lines = decode_wage_file(plaintext)
        # Lines are paid in chunks, each one transaction: a restart finds every chunk paid or not.
        # With a pay delay (a slow bank, for demonstrations) each line is its own chunk.
        chunk = 1 if self.config.pay_delay else 500
        payment, card = Payment.__table__, Card.__table__  # plain rows: thousands per chunk, no ORM objects
        for start in range(0, len(lines), chunk):
            if self.config.pay_delay and self._stop.wait(self.config.pay_delay):
                return
            with self.Session.begin() as session:
                part = lines[start:start + chunk]
                done = set(session.scalars(select(payment.c.seq).where(
                    payment.c.batch_id == batch_id, payment.c.seq.in_([x.seq for x in part]))))
                cards = {number: (holder, status) for number, holder, status in session.execute(
                    select(card.c.number, card.c.holder_name, card.c.status)
                    .where(card.c.number.in_({x.card_number for x in part})))}
                now = utcnow()
                rows = []
                for line in part:
                    if line.seq in done:
                        continue  # paid before a restart
                    holder, card_status = cards.get(line.card_number, (None, None))
                    if holder is None:
                        status, code, reason = FAILED, CARD_UNKNOWN, "no card with this number"
                    elif card_status != "open":
                        status, code, reason = FAILED, CARD_CLOSED, "the card is closed"
                    elif not ledger.same_name(holder, line.worker_name):
                        status, code, reason = FAILED, LINE_NAME_MISMATCH, "the card holder's name differs"
                    else:
                        status, code, reason = PAID, "", ""
                    rows.append({"batch_id": batch_id, "seq": line.seq, "status": status, "code": code,
                                 "reason": reason, "card_number": line.card_number, "amount_fen": line.amount_fen,
                                 "paid_at": now if status == PAID else None})
                if rows:
                    session.execute(insert(payment), rows)
        self._issue_statement(batch_id)

    def _issue_statement(self, batch_id: str) -> None:
        with self.Session.begin() as session:
            batch = session.scalar(select(Batch).where(Batch.batch_id == batch_id))
            if session.scalar(select(StatementRecord.statement_id).where(StatementRecord.batch_id == batch_id)):
                batch.status = "settled"
                return
            payments = session.execute(
                select(Payment.seq, Payment.status, Payment.amount_fen, Payment.code, Payment.reason, Payment.paid_at)
                .where(Payment.batch_id == batch_id).order_by(Payment.seq)).all()
            now = utcnow()
            statement = Statement(
                statement_id=statement_id_for(batch_id), batch_id=batch_id, issued_at=iso(now),
                lines=[StatementLine(seq=p.seq, status=p.status, amount_fen=p.amount_fen, code=p.code,
                                     reason=p.reason, paid_at=iso(p.paid_at) if p.paid_at else "")
                       for p in payments])
            session.add(StatementRecord(statement_id=statement.statement_id, batch_id=batch_id,
                                        body=sign_statement(statement, self.keys.signing), channel=batch.channel,
                                        next_attempt_at=now))
            batch.status = "settled"
            batch.settled_at = now
        log.info("batch %s settled: statement %s", batch_id, statement.statement_id)
        self.delivery.wake()

def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
