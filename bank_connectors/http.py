"""The platform's side of the HTTP bank protocol (docs/bank-protocol.md, "HTTP API")."""
from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

from .keys import PublicKeys
from .protocol import WAGE_ACCOUNT, AccountCheck, AccountCheckResult, BankUnavailable, SubmitResult
from .wagefile import WageFileError, parse_envelope

API = "/api/v1"
REFUSAL_STATUSES = {400, 409, 413, 422}


class HttpBankConnector:
    """A BankConnector over the bank's HTTP API; every call sends an `Idempotency-Key` header."""

    def __init__(self, base_url: str, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base_url + API + path, data=body, method=method,
                                     headers={"Accept": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
            exc.close()
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, OSError) as exc:
            raise BankUnavailable(f"{method} {path}: {exc}") from exc
        if status >= 500 or status == 429:
            raise BankUnavailable(f"{method} {path}: HTTP {status}")
        return status, data

    @staticmethod
    def _json(data: bytes, what: str) -> dict:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise BankUnavailable(f"{what}: the bank answered with something that is not JSON") from None
        if not isinstance(obj, dict):
            raise BankUnavailable(f"{what}: the bank answered with something that is not an object")
        return obj

    def validate_account(self, check: AccountCheck) -> AccountCheckResult:
        body = json.dumps({"account_number": check.account_number, "account_name": check.account_name,
                           "kind": check.kind}, ensure_ascii=False).encode("utf-8")
        status, data = self._request("POST", "/accounts/validate", body, {
            "Content-Type": "application/json", "Idempotency-Key": check.idempotency_key})
        obj = self._json(data, "validate account")
        if status == 400:  # our request was malformed: a bug, not something to retry
            raise ValueError(f"validate account refused: {obj.get('code', '')} {obj.get('reason', '')}")
        if status != 200 or not isinstance(obj.get("ok"), bool):
            raise BankUnavailable(f"validate account: HTTP {status} {obj.get('code', '')}")
        if obj.get("kind", WAGE_ACCOUNT) != check.kind:  # a bank that answered another question
            raise BankUnavailable(f"validate account: the bank did not check a {check.kind}")
        return AccountCheckResult(ok=obj["ok"], code=obj.get("code", ""), reason=obj.get("reason", ""))

    def submit_wage_file(self, batch_id: str, envelope: bytes, idempotency_key: str) -> SubmitResult:
        try:
            sealed_for = parse_envelope(envelope)["batch_id"]
        except WageFileError:
            sealed_for = None
        if sealed_for != batch_id:
            raise ValueError(f"the envelope is not one of batch {batch_id}")
        status, data = self._request("POST", "/wage-files", envelope, {
            "Content-Type": "application/json", "Idempotency-Key": idempotency_key})
        obj = self._json(data, "submit wage file")
        if status in (200, 202):
            return SubmitResult(accepted=True, batch_id=batch_id, duplicate=bool(obj.get("duplicate")))
        if status in REFUSAL_STATUSES:
            return SubmitResult(accepted=False, batch_id=batch_id, code=obj.get("code", "REFUSED"),
                                reason=obj.get("reason", ""))
        raise BankUnavailable(f"submit wage file: unexpected HTTP {status}")

    def batch_status(self, batch_id: str) -> dict | None:
        """The bank's view of a batch (`status`, `payments_recorded`, `statement_id`), None if unknown."""
        status, data = self._request("GET", "/wage-files/" + urllib.parse.quote(batch_id, safe=""))
        if status == 404:
            return None
        return self._json(data, "batch status")

    def fetch_statement(self, batch_id: str) -> bytes | None:
        """The signed statement of a batch (pull instead of waiting for the callback); None if not yet."""
        status, data = self._request("GET", "/statements/" + urllib.parse.quote(batch_id, safe=""))
        if status == 404:
            return None
        if status != 200:
            raise BankUnavailable(f"fetch statement: unexpected HTTP {status}")
        return data

    def keys(self) -> PublicKeys:
        """What the bank's address answers for its keys (see `fetch_bank_keys`: compare, never trust)."""
        return fetch_bank_keys(self.base_url, self.timeout)


def fetch_bank_keys(base_url: str, timeout: float = 10) -> PublicKeys:
    """What the party at `base_url` says its public keys are (GET /api/v1/keys): for an operator to
    compare fingerprints with the key file the bank provided out of band, never to trust. The
    platform reads the bank's keys only from SHIMING_BANK_KEYS_FILE (keys.PinnedKeysFile)."""
    connector = HttpBankConnector(base_url, timeout)
    status, data = connector._request("GET", "/keys")
    if status != 200:
        raise BankUnavailable(f"keys: HTTP {status}")
    try:
        return PublicKeys.from_json(data)
    except ValueError as exc:
        raise BankUnavailable(f"keys: {exc}") from None
