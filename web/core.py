"""Request-side access to the process-wide services and the Temporal bridge."""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import current_app, flash, request

from domain.services import Services

from .i18n import refusal_message
from .temporal_bridge import ProcessRefused

log = logging.getLogger("shiming.web")


def services() -> Services:
    return current_app.extensions["shiming"]["services"]


def bridge():
    return current_app.extensions["shiming"]["bridge"]


def remote_addr() -> str:
    return (request.remote_addr or "")[:64]


def call_process(action: Callable[[], Any]) -> tuple[bool, Any]:
    """Run a call into Temporal; a refusal or an outage becomes a translated flash message.

    Returns (True, result) on success and (False, None) after flashing why it failed.
    """
    try:
        return True, action()
    except ProcessRefused as exc:
        flash(refusal_message(exc.code), "error")
    except Exception:  # noqa: BLE001 - the engine is another process: report, do not crash the page
        log.exception("call into the process engine failed")
        flash(refusal_message("Unavailable"), "error")
    return False, None
