"""The bank's side of the exchange folder: picks up wage files and account checks from outgoing."""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from domain.files import write_atomic

from ..exchange import (ACCOUNT_RESULT_DOMAIN, ACCOUNT_RESULT_SUFFIX, ACCOUNT_SUFFIX, INCOMING,
                        OUTGOING, RECEIPT_DOMAIN, RECEIPT_SUFFIX, WAGE_SUFFIX, visible_files)
from ..protocol import CHECK_KINDS, WAGE_ACCOUNT
from ..signing import canonical_json, sign_document
from ..wagefile import BATCH_ID_RE, WageFileError, parse_envelope
from .bank import ReferenceBank, SubmissionRefused, iso
from .models import utcnow

log = logging.getLogger("shiming.bank.exchange")


class ExchangeWatcher:
    def __init__(self, bank: ReferenceBank, root: Path):
        self.bank = bank
        self.outgoing = Path(root) / OUTGOING
        self.incoming = Path(root) / INCOMING
        self.outgoing.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)
        self._seen: set[tuple[str, int, int]] = set()

    def run(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                self.scan_once()
            except Exception:  # noqa: BLE001 - a broken file must not stop the watcher
                log.exception("exchange scan failed")
            stop.wait(interval)

    def _new(self, path: Path) -> tuple[str, int, int] | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        mark = (path.name, st.st_mtime_ns, st.st_size)
        return None if mark in self._seen else mark

    def scan_once(self) -> None:
        for path in visible_files(self.outgoing, WAGE_SUFFIX):
            mark = self._new(path)
            if mark is not None:
                self._take_wage_file(path)
                self._seen.add(mark)
        for path in visible_files(self.outgoing, ACCOUNT_SUFFIX):
            mark = self._new(path)
            if mark is not None:
                self._answer_account_check(path)
                self._seen.add(mark)

    def _take_wage_file(self, path: Path) -> None:
        batch_id = path.name[: -len(WAGE_SUFFIX)]
        if not BATCH_ID_RE.match(batch_id):
            log.warning("ignoring %s: not a batch id", path.name)
            return
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        receipt = {"type": "receipt", "batch_id": batch_id, "received_at": iso(utcnow()),
                   "accepted": False, "duplicate": False, "code": "", "reason": ""}
        try:
            try:
                sealed_for = parse_envelope(data)["batch_id"]
            except WageFileError as exc:
                raise SubmissionRefused(400, exc.code, exc.detail) from None
            if sealed_for != batch_id:
                raise SubmissionRefused(400, "BATCH_ID_MISMATCH", f"file name {batch_id}, envelope {sealed_for}")
            result = self.bank.submit(data, "exchange:" + batch_id, "exchange")
            receipt.update(accepted=True, duplicate=result.duplicate)
        except SubmissionRefused as exc:
            log.warning("refused %s: %s", path.name, exc)
            receipt.update(code=exc.code, reason=exc.reason)
        target = self.incoming / (batch_id + RECEIPT_SUFFIX)
        if receipt["duplicate"] and target.exists():
            return  # the first receipt stands
        write_atomic(target, canonical_json(sign_document(receipt, self.bank.keys.signing, RECEIPT_DOMAIN)))

    def _answer_account_check(self, path: Path) -> None:
        stem = path.name[: -len(ACCOUNT_SUFFIX)]
        try:
            request = json.loads(path.read_bytes())
            number, name, key = (request["account_number"], request["account_name"], request["idempotency_key"])
            kind = request.get("kind", WAGE_ACCOUNT)
            if not all(isinstance(v, str) for v in (number, name, key)) or kind not in CHECK_KINDS:
                raise TypeError
        except FileNotFoundError:
            return  # answered and cleaned up meanwhile
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            log.warning("ignoring %s: not an account check", path.name)
            return
        result = self.bank.validate_account(number, name, kind)
        answer = {"type": "account-check-result", "idempotency_key": key, "account_number": number,
                  "kind": kind, "ok": result.ok, "code": result.code, "reason": result.reason}
        write_atomic(self.incoming / (stem + ACCOUNT_RESULT_SUFFIX),
                     canonical_json(sign_document(answer, self.bank.keys.signing, ACCOUNT_RESULT_DOMAIN)))
