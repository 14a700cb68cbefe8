"""Machine-to-machine endpoints. The bank's statement callback is authenticated by the bank's
Ed25519 signature over the body, checked against the bank keys pinned in configuration
(SHIMING_BANK_KEYS_FILE; docs/bank-protocol.md, docs/signing.md), not by a session, so it is
CSRF-exempt. Nothing the caller sends is a reason for a 500: a refused body gets a 400 and an
audit row."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from temporalio.service import RPCError, RPCStatusCode

from bank_connectors.intake import StatementConflict, intake_statement, record_refusal
from bank_connectors.keys import BankKeysError, PinnedKeysFile
from bank_connectors.wagefile import StatementError
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import StatementArrived

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger("shiming.web.api")

MAX_STATEMENT_BYTES = 20 * 1024 * 1024
KEYS_EXTENSION = "shiming.bank_keys"


def _pinned_keys():
    """The pinned bank keys of this app (the file is re-read when it changes)."""
    ext = current_app.extensions
    if KEYS_EXTENSION not in ext:
        ext[KEYS_EXTENSION] = PinnedKeysFile(ext["shiming"]["services"].settings.bank_keys_file or None)
    return ext[KEYS_EXTENSION]()


@bp.post("/bank/statements")
def bank_statement():
    ext = current_app.extensions["shiming"]
    services, bridge = ext["services"], ext["bridge"]
    body = request.get_data(cache=False)
    if not body or len(body) > MAX_STATEMENT_BYTES:
        record_refusal(services, body[:1024], "callback", "empty or too large", detail={"bytes": len(body)})
        return jsonify(error="BAD_REQUEST"), 400
    try:
        keys = _pinned_keys()
    except BankKeysError as exc:
        log.error("bank statement not taken: %s", exc)
        return jsonify(error="BANK_KEYS_NOT_CONFIGURED"), 503  # the bank retries; the operator pins the keys
    try:
        result = intake_statement(services, body, keys, source="callback")
    except StatementConflict as exc:
        return jsonify(error=exc.code, reason=exc.detail), 409
    except StatementError as exc:
        return jsonify(error=exc.code, reason=exc.detail[:200]), 400
    # signalled every time, duplicates included: the workflow ignores a statement it has seen
    try:
        bridge.run(lambda client: client.get_workflow_handle(result.workflow_id).signal(
            WageRunWorkflow.statement_arrived, StatementArrived(result.statement_id)))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: the run has already completed
            raise
    return jsonify(statement_id=result.statement_id, duplicate=not result.new), 200
