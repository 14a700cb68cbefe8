"""Request-side access to the process-wide services and the Temporal bridge."""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from flask import Response, current_app, flash, request, send_file
from temporalio.service import RPCError

from bank_connectors.protocol import BankConnector
from domain.services import Services

from .i18n import refusal_message
from .temporal_bridge import ProcessRefused, is_closed_case

log = logging.getLogger("shiming.web")


def services() -> Services:
    return current_app.extensions["shiming"]["services"]


def bridge():
    return current_app.extensions["shiming"]["bridge"]


BANK_CONNECTOR = "bank_connector"


def bank_connector() -> BankConnector:
    """The bank, as the worker reaches it (shiming/worker.py): the exchange folder when
    SHIMING_BANK_EXCHANGE_DIR is set (answers count only when signed by the pinned bank keys),
    else the HTTP API at SHIMING_BANK_URL (the reference bank in dev and tests). Built once per app;
    `app.extensions["shiming"]["bank_connector"]` may be given another connector."""
    ext = current_app.extensions["shiming"]
    if BANK_CONNECTOR not in ext:
        from bank_connectors.exchange import FileExchangeConnector
        from bank_connectors.http import HttpBankConnector
        from bank_connectors.keys import PinnedKeysFile

        settings = services().settings
        if settings.bank_exchange_dir:
            ext[BANK_CONNECTOR] = FileExchangeConnector(Path(settings.bank_exchange_dir),
                                                        bank_keys=PinnedKeysFile(settings.bank_keys_file or None))
        else:
            ext[BANK_CONNECTOR] = HttpBankConnector(settings.bank_url)
    return ext[BANK_CONNECTOR]


def send_bytes(data: bytes, name: str, mimetype: str, *, inline: bool = False, csp: Optional[str] = None) -> Response:
    """A download of `data` named `name` (every download of the web goes through here): flask.send_file
    writes the Content-Disposition (attachment, or inline for a scan shown in the browser) and encodes
    a name that is not plain ASCII; `csp` is the Content-Security-Policy of an inline document."""
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=not inline, download_name=name)
    if csp:
        response.headers["Content-Security-Policy"] = csp
    return response


def remote_addr() -> str:
    return (request.remote_addr or "")[:64]


def log_refusal(exc: ProcessRefused) -> None:
    """One line per refusal: the code, the case (workflow id) and the action; no traceback and no
    message text, which may name a person."""
    log.info("process refused %s: case %s%s", exc.code, exc.case or "-", f", {exc.action}" if exc.action else "")


def flash_refusal(exc: ProcessRefused, *messages: Mapping[str, Any]) -> None:
    """Log the refusal and flash its own translated message (the first table that knows the code)."""
    log_refusal(exc)
    flash(refusal_message(exc.code, *messages), "error")


def flash_unavailable() -> None:
    log.exception("call into the process engine failed")
    flash(refusal_message("Unavailable"), "error")


def call_process(action: Callable[[], Any], *messages: Mapping[str, Any]) -> tuple[bool, Any]:
    """Run a call into Temporal; a refusal or an outage becomes a translated flash message.

    `messages` are the caller's own code → message tables, asked before web.i18n.REFUSALS.
    Returns (True, result) on success and (False, None) after flashing why it failed.
    """
    ok, result, _code = call_process_code(action, *messages)
    return ok, result


def call_process_code(action: Callable[[], Any], *messages: Mapping[str, Any]) -> tuple[bool, Any, Optional[str]]:
    """As call_process, with the refusal's code (or "Unavailable") as third item."""
    try:
        return True, action(), None
    except ProcessRefused as exc:
        flash_refusal(exc, *messages)
        return False, None, exc.code
    except RPCError as exc:
        if not is_closed_case(exc):
            flash_unavailable()
            return False, None, "Unavailable"
        # e.g. a signal to a process that has ended meanwhile: a refusal, not an outage
        flash_refusal(ProcessRefused("CaseFinished", "the process is no longer running"), *messages)
        return False, None, "CaseFinished"
    except Exception:  # noqa: BLE001 - the engine is another process: report, do not crash the page
        flash_unavailable()
        return False, None, "Unavailable"
