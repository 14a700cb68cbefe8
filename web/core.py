"""Request-side access to the process-wide services and the Temporal bridge."""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional

from flask import current_app, flash, request
from temporalio.service import RPCError

from domain.services import Services

from .i18n import refusal_message
from .temporal_bridge import ProcessRefused, is_closed_case

log = logging.getLogger("shiming.web")


def services() -> Services:
    return current_app.extensions["shiming"]["services"]


def bridge():
    return current_app.extensions["shiming"]["bridge"]


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
