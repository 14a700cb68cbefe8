"""The reference bank's behaviour, independent of HTTP: ledger, submissions, payments, statements.

Three background threads do the asynchronous part: the payer (pays accepted batches line by line,
then issues one signed statement per batch), the deliverer (POSTs statements to the platform's
callback, or writes them to the exchange folder, retrying with capped exponential backoff until
acknowledged) and, with an exchange folder, the watcher (`exchange_watcher.py`). Everything they
need is in the database, so a restarted bank carries on where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

from sqlalchemy import case, create_engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from domain.files import write_atomic

from ..exchange import STATEMENT_SUFFIX
from ..keys import load_or_create_keys
from ..protocol import (BATCH_CONFLICT, CARD, CHECK_KINDS, CLOSED, WAGE_ACCOUNT, IDEMPOTENCY_CONFLICT, NAME_MISMATCH, NOT_FOUND, NOT_WAGE_ACCOUNT,
                        PAYER_ACCOUNT_INVALID, AccountCheckResult, SubmitResult)
from ..signing import ed25519_public_from_hex, public_hex
from ..wagefile import (ACCOUNT_RE, CARD_CLOSED, CARD_RE, CARD_UNKNOWN, FAILED, PAID, Statement, StatementLine,
                        WageFileError, decode_wage_file, open_envelope, parse_envelope, sign_statement)
from ..wagefile import NAME_MISMATCH as LINE_NAME_MISMATCH
from .models import Base, Batch, Card, LedgerAccount, Payment, PlatformKey, StatementRecord, utcnow

log = logging.getLogger("shiming.bank")

MAX_IDEMPOTENCY_KEY = 200
CALLBACK_TIMEOUT = 5.0


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


def same_name(a: str, b: str) -> bool:
    """Names compare after Unicode NFC normalisation and trimming; nothing else is forgiven."""
    return unicodedata.normalize("NFC", a).strip() == unicodedata.normalize("NFC", b).strip()


def statement_id_for(batch_id: str) -> str:
    return "ST-" + hashlib.sha256(batch_id.encode("utf-8")).hexdigest()[:32]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_platform_key(text: str) -> str:
    """A platform signing key given as 64 hex digits, or a file holding hex, `{"signing": hex}` or a PEM."""
    text = text.strip()
    candidate = text
    path = Path(text)
    if len(text) != 64 and path.exists():
        data = path.read_bytes()
        if b"BEGIN PUBLIC KEY" in data:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            return public_hex(load_pem_public_key(data))
        candidate = data.decode("utf-8").strip()
        if candidate.startswith("{"):
            candidate = json.loads(candidate).get("signing", "")
    ed25519_public_from_hex(candidate)  # raises ValueError if it is not a key
    return candidate.lower()


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
        self._wake_delivery = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        from .exchange_watcher import ExchangeWatcher

        with self.Session() as session:
            for batch_id in session.scalars(select(Batch.batch_id).where(Batch.status != "settled")
                                            .order_by(Batch.id)):
                self._pay_queue.put(batch_id)
        workers = [("bank-payer", self._pay_loop), ("bank-deliverer", self._delivery_loop)]
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
        self._wake_delivery.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.engine.dispose()

    # --- ledger (test-double administration) -----------------------------------------------------

    def upsert_accounts(self, items: list[dict]) -> int:
        rows = [_ledger_row(item, ("number", "name"), {"kind": ("wage", "ordinary"), "status": ("open", "closed")},
                            ACCOUNT_RE) for item in _as_list(items)]
        with self.Session.begin() as session:
            for row in rows:
                session.merge(LedgerAccount(**row))
        return len(rows)

    def upsert_cards(self, items: list[dict]) -> int:
        rows = [_ledger_row(item, ("number", "holder_name"), {"status": ("open", "closed")}, CARD_RE)
                for item in _as_list(items)]
        with self.Session.begin() as session:
            for row in rows:
                session.merge(Card(**row))
        return len(rows)

    def add_platform_keys(self, items: list) -> int:
        keys = []
        for item in _as_list(items):
            text, label = (item.get("signing"), item.get("label", "")) if isinstance(item, dict) else (item, "")
            if not isinstance(text, str) or not isinstance(label, str):
                raise ValueError("a platform key is a hex string or {\"signing\": hex, \"label\": …}")
            keys.append((parse_platform_key(text), label[:100]))
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
                return self._check_card(session, number, name)
            return self._check_account(session, number, name)

    @staticmethod
    def _check_card(session, number: str, holder_name: str) -> AccountCheckResult:
        """A personal card: exists, the holder's name, open. Whether it is a wage account is not asked."""
        card = session.get(Card, number)
        if card is None:
            return AccountCheckResult(False, NOT_FOUND, "no card with this number")
        if not same_name(card.holder_name, holder_name):
            return AccountCheckResult(False, NAME_MISMATCH, "the card holder's name does not match")
        if card.status != "open":
            return AccountCheckResult(False, CLOSED, "the card is closed")
        return AccountCheckResult(True)

    @staticmethod
    def _check_account(session, number: str, name: str) -> AccountCheckResult:
        account = session.get(LedgerAccount, number)
        if account is None:
            return AccountCheckResult(False, NOT_FOUND, "no account with this number")
        if not same_name(account.name, name):
            return AccountCheckResult(False, NAME_MISMATCH, "the account name does not match")
        if account.status != "open":
            return AccountCheckResult(False, CLOSED, "the account is closed")
        if account.kind != "wage":
            return AccountCheckResult(False, NOT_WAGE_ACCOUNT, "not a wage special account")
        return AccountCheckResult(True)

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
                    payer = self._check_account(session, header.payer_account, header.payer_name)
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
                    elif not same_name(holder, line.worker_name):
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
        self._wake_delivery.set()

    # --- delivering statements -------------------------------------------------------------------

    def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.deliver_due()
            except Exception:  # noqa: BLE001 - keep delivering; the row is retried
                log.exception("statement delivery failed")
                wait = self.config.retry_cap
            self._wake_delivery.wait(timeout=wait)
            self._wake_delivery.clear()

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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _as_list(items) -> list:
    if not isinstance(items, list):
        raise ValueError("expected a JSON list")
    return items


def _ledger_row(item, required: tuple[str, ...], choices: dict[str, tuple[str, ...]], number_re) -> dict:
    if not isinstance(item, dict):
        raise ValueError("each entry is a JSON object")
    row = {}
    for name in required:
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} is required")
        row[name] = value.strip()
    if not number_re.match(row["number"]):
        raise ValueError(f"bad number {row['number']!r}")
    for name, allowed in choices.items():
        value = item.get(name, allowed[0])
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        row[name] = value
    unknown = set(item) - set(required) - set(choices)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    return row
