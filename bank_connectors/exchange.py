"""The file-exchange channel: the same wage files and statements through a folder pair.

    <root>/outgoing/   platform → bank: <batch_id>.wage.json, <key>.acct.json
    <root>/incoming/   bank → platform: <statement_id>.stmt.json, <batch_id>.receipt.json,
                                        <key>.acct-result.json
    <root>/incoming/acked/     statements the platform has taken
    <root>/incoming/rejected/  files the platform refused (malformed, bad signature, incomplete …)

The folder carries no trust: whatever is in it could have been put there by anyone with access to
it. Statements, receipts and account results count only when signed by a bank key pinned in the
platform's configuration; nothing read from the folder supplies keys.

Every file appears atomically (written under a dot-name, then renamed or linked into place);
readers ignore dot-files. `FileExchangeConnector` is the platform's side; the reference bank's
watcher (`reference_bank.exchange_watcher`) is the bank's side. See docs/bank-protocol.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from domain.files import create_exclusive

from .keys import BankKeysError, trusted_signing_keys
from .protocol import BATCH_CONFLICT, WAGE_ACCOUNT, AccountCheck, AccountCheckResult, BankUnavailable, SubmitResult
from .signing import canonical_json, public_hex, verify_document
from .wagefile import BATCH_ID_RE, WageFileError, parse_envelope

OUTGOING = "outgoing"
INCOMING = "incoming"
ACKED = "acked"
REJECTED = "rejected"
WAGE_SUFFIX = ".wage.json"
STATEMENT_SUFFIX = ".stmt.json"
RECEIPT_SUFFIX = ".receipt.json"
ACCOUNT_SUFFIX = ".acct.json"
ACCOUNT_RESULT_SUFFIX = ".acct-result.json"
RECEIPT_DOMAIN = b"SHIMING-RECEIPT-V1\n"
MAX_STATEMENT_FILE = 20 * 1024 * 1024  # as the HTTP callback takes
ACCOUNT_RESULT_DOMAIN = b"SHIMING-ACCOUNT-CHECK-V1\n"


def account_request_stem(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]


def visible_files(folder: Path, suffix: str) -> list[Path]:
    """Finished files of one kind, oldest name first (dot-files are still being written)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffix) and not p.name.startswith("."))


class FileExchangeConnector:
    """A BankConnector over an exchange folder pair; the platform also polls it for statements.

    `bank_keys` — the bank's pinned keys (keys.PinnedBankKeys, a callable returning them such as
    keys.PinnedKeysFile, an Ed25519 key or a list of keys) — makes receipts and account results
    count only when signed by a pinned key; the platform always passes them. Statements are always
    verified by the platform's intake with `wagefile.verify_statement`.
    """

    def __init__(self, root: Path, *, bank_keys=None, timeout: float = 10.0, poll_interval: float = 0.1):
        self.root = Path(root)
        self.outgoing = self.root / OUTGOING
        self.incoming = self.root / INCOMING
        self.bank_keys = bank_keys
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.outgoing.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)

    # --- BankConnector ---------------------------------------------------------------------------

    def submit_wage_file(self, batch_id: str, envelope: bytes, idempotency_key: str) -> SubmitResult:
        """Drop `<batch_id>.wage.json` in outgoing; the same batch with the same content is a duplicate."""
        if not BATCH_ID_RE.match(batch_id):
            raise ValueError(f"bad batch id {batch_id!r}")
        sealed = parse_envelope(envelope)
        if sealed["batch_id"] != batch_id:
            raise ValueError(f"the envelope is not one of batch {batch_id}")
        path = self.outgoing / (batch_id + WAGE_SUFFIX)
        if create_exclusive(path, envelope):
            return SubmitResult(accepted=True, batch_id=batch_id)
        try:
            existing = parse_envelope(path.read_bytes())["plaintext_sha256"]
        except WageFileError:
            existing = None
        if existing == sealed["plaintext_sha256"]:
            return SubmitResult(accepted=True, batch_id=batch_id, duplicate=True)
        return SubmitResult(accepted=False, batch_id=batch_id, code=BATCH_CONFLICT,
                            reason="another wage file with this batch id is already in the exchange folder")

    def validate_account(self, check: AccountCheck) -> AccountCheckResult:
        """Write a request, wait up to `timeout` for the bank's answer; BankUnavailable when none comes."""
        stem = account_request_stem(check.idempotency_key)
        request = self.outgoing / (stem + ACCOUNT_SUFFIX)
        result_path = self.incoming / (stem + ACCOUNT_RESULT_SUFFIX)
        create_exclusive(request, canonical_json({
            "type": "account-check", "account_number": check.account_number,
            "account_name": check.account_name, "idempotency_key": check.idempotency_key, "kind": check.kind}))
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._account_result(result_path, check)
            if answer is not None:
                request.unlink(missing_ok=True)
                result_path.unlink(missing_ok=True)
                return answer
            if time.monotonic() >= deadline:
                raise BankUnavailable("the bank has not answered the account check in the exchange folder")
            time.sleep(self.poll_interval)

    def _account_result(self, path: Path, check: AccountCheck) -> AccountCheckResult | None:
        doc = self._read_signed(path, ACCOUNT_RESULT_DOMAIN)
        if doc is None or doc.get("idempotency_key") != check.idempotency_key:
            return None
        if doc.get("kind", WAGE_ACCOUNT) != check.kind:  # an answer to another question
            return None
        return AccountCheckResult(ok=bool(doc.get("ok")), code=doc.get("code", ""), reason=doc.get("reason", ""))

    # --- what comes back -------------------------------------------------------------------------

    def receipt(self, batch_id: str) -> SubmitResult | None:
        """The bank's receipt for a dropped wage file (accepted or refused with a code), None if not yet."""
        doc = self._read_signed(self.incoming / (batch_id + RECEIPT_SUFFIX), RECEIPT_DOMAIN)
        if doc is None or doc.get("batch_id") != batch_id:
            return None
        return SubmitResult(accepted=bool(doc.get("accepted")), batch_id=batch_id,
                            duplicate=bool(doc.get("duplicate")), code=doc.get("code", ""),
                            reason=doc.get("reason", ""))

    def poll_statement_files(self) -> list[tuple[str, bytes]]:
        """`(file name, signed statement)` for every statement not yet acknowledged. A file larger than
        MAX_STATEMENT_FILE is cut there (and so refused as malformed); what cannot be read is skipped."""
        out = []
        for path in visible_files(self.incoming, STATEMENT_SUFFIX):
            try:
                if not path.is_file():
                    continue
                with path.open("rb") as fh:
                    out.append((path.name, fh.read(MAX_STATEMENT_FILE + 1)))
            except OSError:  # acknowledged meanwhile, or unreadable: never a reason to stop the others
                continue
        return out

    def poll_statements(self) -> list[bytes]:
        """Every signed statement in incoming not yet acknowledged (verify each before use)."""
        return [body for _name, body in self.poll_statement_files()]

    def ack(self, name: str) -> None:
        """Move a processed statement to incoming/acked/; `name` is the file name or the statement id."""
        if not name.endswith(STATEMENT_SUFFIX):
            name += STATEMENT_SUFFIX
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad statement file name {name!r}")
        acked = self.incoming / ACKED
        acked.mkdir(exist_ok=True)
        try:
            os.replace(self.incoming / name, acked / name)
        except FileNotFoundError:
            pass  # acknowledged twice: nothing to do

    def reject(self, name: str) -> Path | None:
        """Move a refused file out of the way, to incoming/rejected/, so it never blocks the next one."""
        if "/" in name or name.startswith(".") or name in (ACKED, REJECTED):
            raise ValueError(f"bad file name {name!r}")
        rejected = self.incoming / REJECTED
        rejected.mkdir(exist_ok=True)
        target = rejected / name
        if target.exists():  # the same name refused before: keep both
            target = rejected / f"{name}.{time.time_ns()}"
        try:
            os.replace(self.incoming / name, target)
        except FileNotFoundError:
            return None
        return target

    def _trusted_keys(self) -> tuple | None:
        keys = self.bank_keys
        if keys is None:
            return None
        if callable(keys):
            try:
                keys = keys()
            except BankKeysError:
                return ()  # pinned keys configured but unreadable: trust nothing
        return trusted_signing_keys(keys)

    def _read_signed(self, path: Path, domain: bytes) -> dict | None:
        try:
            doc = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return None
        except RecursionError:
            return None
        if not isinstance(doc, dict):
            return None
        trusted = self._trusted_keys()
        if trusted is not None:
            signer = doc.get("signer")
            if not any(public_hex(key) == signer and verify_document(doc, key, domain) for key in trusted):
                return None
        return doc
