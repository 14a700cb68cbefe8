"""The reference bank's HTTP API (docs/bank-protocol.md, "HTTP API").

`create_bank_app` builds the ReferenceBank and a Flask app around it; the routes are the
module-level views of the blueprint `bp`, which find the bank in `current_app.extensions`.
"""
from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Iterable, Optional

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from ..protocol import CHECK_KINDS, WAGE_ACCOUNT
from .bank import BankConfig, ReferenceBank, SubmissionRefused

log = logging.getLogger("shiming.bank")

API = "/api/v1"
MAX_BODY = 16 * 1024 * 1024
EXTENSION = "reference_bank"
HTTP_ERROR_CODES = {400: "MALFORMED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}

bp = Blueprint("reference_bank", __name__, url_prefix=API)


def create_bank_app(home: Path, callback_url: Optional[str] = None, exchange_dir: Optional[Path] = None, *,
                    ledger: Optional[Path] = None, platform_keys: Iterable[str] = (), retry_cap: float = 5.0,
                    pay_delay: float = 0.0, start_workers: bool = True) -> Flask:
    """The bank as a Flask app; its background workers start unless `start_workers` is False.

    The ReferenceBank behind it is `app.extensions["reference_bank"]` (call `.stop()` when done).
    """
    bank = ReferenceBank(BankConfig(home=Path(home), callback_url=callback_url,
                                    exchange_dir=Path(exchange_dir) if exchange_dir else None,
                                    retry_cap=retry_cap, pay_delay=pay_delay))
    if ledger is not None:
        bank.load_ledger(ledger)
    platform_keys = list(platform_keys)
    if platform_keys:
        bank.add_platform_keys(platform_keys)
    app = Flask("shiming-reference-bank")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions[EXTENSION] = bank
    for status in HTTP_ERROR_CODES:
        app.register_error_handler(status, http_error)
    app.register_blueprint(bp)
    if start_workers:
        bank.start()
    return app


def current_bank() -> ReferenceBank:
    """The ReferenceBank of the app handling the request."""
    return current_app.extensions[EXTENSION]


def refusal(status: int, code: str, reason: str = "", **extra):
    return jsonify({"code": code, "reason": reason, **extra}), status


def idempotency_key() -> str:
    return request.headers.get("Idempotency-Key", "").strip()


def http_error(exc):
    """An HTTP error (bad request, unknown route, body too large …) in the API's refusal shape."""
    return refusal(exc.code, HTTP_ERROR_CODES[exc.code])


@bp.get("/health")
def health():
    return jsonify({"ok": True})


@bp.get("/keys")
def keys():
    bank = current_bank()
    return jsonify(bank.keys.public().to_dict())


@bp.post("/accounts/validate")
def validate_account():
    bank = current_bank()
    key = idempotency_key()
    if not key:
        return refusal(400, "MISSING_IDEMPOTENCY_KEY", "send an Idempotency-Key header")
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not all(isinstance(data.get(n), str)
                                             for n in ("account_number", "account_name")):
        return refusal(400, "MALFORMED", "a JSON object with account_number and account_name")
    kind = data.get("kind", WAGE_ACCOUNT)
    if kind not in CHECK_KINDS:
        return refusal(400, "MALFORMED", f"kind is one of {', '.join(CHECK_KINDS)}")
    result = bank.validate_account(data["account_number"], data["account_name"], kind)
    return jsonify({"ok": result.ok, "code": result.code, "reason": result.reason, "idempotency_key": key,
                    "kind": kind})


@bp.post("/wage-files")
def submit_wage_file():
    bank = current_bank()
    try:
        result = bank.submit(request.get_data(cache=False), idempotency_key(), "http")
    except SubmissionRefused as exc:
        log.warning("refused a wage file from %s: %s", request.remote_addr, exc)
        return refusal(exc.status, exc.code, exc.reason, accepted=False)
    view = bank.batch_view(result.batch_id) or {}
    body = {"accepted": True, "batch_id": result.batch_id, "duplicate": result.duplicate,
            "status": view.get("status", "accepted")}
    return jsonify(body), 200 if result.duplicate else 202


@bp.get("/wage-files/<batch_id>")
def batch_status(batch_id: str):
    bank = current_bank()
    view = bank.batch_view(batch_id)
    if view is None:
        return refusal(404, "NOT_FOUND", "no batch with this id")
    return jsonify(view)


@bp.get("/statements/<batch_id>")
def statement(batch_id: str):
    bank = current_bank()
    body = bank.statement_body(batch_id)
    if body is None:
        known = bank.has_batch(batch_id)
        return refusal(404, "NOT_READY" if known else "NOT_FOUND",
                       "the batch is still being paid" if known else "no batch with this id")
    return Response(body, status=200, mimetype="application/json")


def admin(handler):
    """A loopback-only administration call: `handler(json body)` → the number of rows upserted."""
    if not _loopback(request.remote_addr):
        abort(403)
    try:
        count = handler(request.get_json(silent=True))
    except ValueError as exc:
        return refusal(400, "MALFORMED", str(exc))
    return jsonify({"upserted": count})


@bp.post("/admin/accounts")
def admin_accounts():
    return admin(current_bank().upsert_accounts)


@bp.post("/admin/cards")
def admin_cards():
    return admin(current_bank().upsert_cards)


@bp.post("/admin/platform-keys")
def admin_platform_keys():
    return admin(current_bank().add_platform_keys)


def _loopback(address: Optional[str]) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
