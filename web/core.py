"""Request-side access to the process-wide services and the Temporal bridge."""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional

from flask import Response, current_app, flash, request, send_file
from temporalio.service import RPCError

from bank_connectors.protocol import BankConnector
from domain.services import Services

from .refusals import refusal_message
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


class Called(NamedTuple):
    """What a call into the process engine gave: `ok` and its `result`, or the refusal's `code`
    ("Unavailable" for an outage) after a translated flash message said why."""

    ok: bool
    result: Any = None
    code: Optional[str] = None


def call_process(action: Callable[[], Any], *messages: Mapping[str, Any]) -> Called:
    """Run a call into Temporal (start, update, signal, query): the one way the web calls a process.
    A refusal (logged as one line) or an outage becomes a translated flash message.

    `messages` are the page's own code → message tables (web/refusals.py), asked before
    web.refusals.REFUSALS.
    """
    try:
        return Called(True, action())
    except ProcessRefused as exc:
        flash_refusal(exc, *messages)
        return Called(False, code=exc.code)
    except RPCError as exc:
        if not is_closed_case(exc):
            flash_unavailable()
            return Called(False, code="Unavailable")
        # e.g. a signal to a process that has ended meanwhile: a refusal, not an outage
        flash_refusal(ProcessRefused("CaseFinished", "the process is no longer running"), *messages)
        return Called(False, code="CaseFinished")
    except Exception:  # noqa: BLE001 - the engine is another process: report, do not crash the page
        flash_unavailable()
        return Called(False, code="Unavailable")
