"""Machine-to-machine endpoints. The bank's statement callback is authenticated by the bank's
Ed25519 signature over the body (docs/bank-protocol.md), not by a session, so it is CSRF-exempt."""
from __future__ import annotations

import functools

from flask import Blueprint, current_app, jsonify, request
from temporalio.service import RPCError, RPCStatusCode

from bank_connectors.http import fetch_bank_keys
from bank_connectors.intake import intake_statement
from bank_connectors.protocol import BankUnavailable
from bank_connectors.wagefile import StatementError
from workflows.wage_run import StatementArrived, WageRunWorkflow

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_STATEMENT_BYTES = 20 * 1024 * 1024


@functools.cache
def _bank_keys(url: str):
    return fetch_bank_keys(url)


@bp.post("/bank/statements")
def bank_statement():
    ext = current_app.extensions["shiming"]
    services, bridge = ext["services"], ext["bridge"]
    body = request.get_data(cache=False)
    if not body or len(body) > MAX_STATEMENT_BYTES:
        return jsonify(error="BAD_REQUEST"), 400
    try:
        keys = _bank_keys(services.settings.bank_url)
    except BankUnavailable:
        return jsonify(error="BANK_KEYS_UNAVAILABLE"), 503  # the bank retries
    try:
        result = intake_statement(services, body, keys.signing, source="callback")
    except StatementError as exc:
        return jsonify(error=exc.args[0] if exc.args else "refused"), 400
    # signalled every time, duplicates included: the workflow ignores a statement it has seen
    try:
        bridge.run(lambda client: client.get_workflow_handle(result.workflow_id).signal(
            WageRunWorkflow.statement_arrived, StatementArrived(result.statement_id)))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: the run has already completed
            raise
    return jsonify(statement_id=result.statement_id, duplicate=not result.new), 200
