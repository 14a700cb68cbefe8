"""ZKTeco PUSH (ADMS / "iclock") endpoints at the paths the terminals call: /iclock/cdata,
/iclock/getrequest, /iclock/devicecmd. The protocol (domain/processes/zkteco.py) is plain text
and signs nothing, so these views are CSRF-exempt and carry no rate limit; a request is taken only
from a serial registered to a project with the ZKTeco protocol, active, and from an allowed source
(domain/zkteco.admit_device). Anything else is answered `UNKNOWN DEVICE` (403) and logged, whatever
the reason, so a stranger learns nothing. Every answer is given after the commit.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from domain import zkteco as facts
from domain.models import utcnow
from domain.processes import zkteco as zk

from ..device_retry import StillColliding, run_retrying

bp = Blueprint("iclock", __name__, url_prefix=zk.ICLOCK_PREFIX)
log = logging.getLogger("shiming.web.iclock")

MAX_BODY_BYTES = 4 * 1024 * 1024


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _services():
    return current_app.extensions["shiming"]["services"]


def _admitted(session):
    """(device, None) or (None, the refusal answer)."""
    serial = request.args.get("SN", "").strip()
    device, refusal = facts.admit_device(session, serial, request.remote_addr or "")
    if refusal is None:
        return device, None
    log.warning("iclock %s refused (%s) for serial %r from %s", request.path, refusal.value, serial[:64],
                request.remote_addr)
    return None, _text(zk.ANSWER_UNKNOWN_DEVICE, 403)


def _body() -> str:
    return request.get_data(cache=False).decode("utf-8", errors="replace")


@bp.get("/cdata")
def handshake():
    """GET /iclock/cdata?SN=…&options=all: the option block; the device's commands are queued."""
    return _retrying(_handshake)


def _handshake() -> Response:
    with _services().Session.begin() as session:
        device, refused = _admitted(session)
        if refused:
            return refused
        now = utcnow()
        facts.sync_commands(session, device, now)
        device.last_contact_at = now
        serial = device.serial
    return _text(zk.format_options(zk.Options(serial=serial)))


def _retrying(work) -> Response:
    """Run `work` (one transaction) again when it met a concurrent one, as the signed API does
    (web/device_retry.py); should that keep failing, the device is told to come again later (503),
    and it does."""
    try:
        return run_retrying(work, f"iclock {request.path}")
    except StillColliding:
        return _text("RETRY", 503)


@bp.post("/cdata")
def upload():
    """POST /iclock/cdata?SN=…&table=ATTLOG|OPERLOG|USERINFO|options: `OK: n`, n the lines the
    platform has (a line met again is a duplicate: a rerun after a concurrent upload adds nothing)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _text("BODY TOO LARGE", 413)
    body = _body()
    return _retrying(lambda: _upload(body))


def _upload(body: str) -> Response:
    with _services().Session.begin() as session:
        device, refused = _admitted(session)
        if refused:
            return refused
        table = request.args.get("table", "").strip().upper()
        parsed = zk.parse_table(table, body)
        if parsed is None:
            log.warning("iclock upload of table %r from %s not taken", table[:20], device.serial)
            return _text("UNKNOWN TABLE", 400)
        if table == zk.Table.ATTLOG:
            taken = facts.take_attlog(session, device, parsed, utcnow()).taken
        elif table == zk.Table.OPTIONS:
            device.last_contact_at, taken = utcnow(), 0
        else:
            taken = facts.take_operlog(session, device, parsed, utcnow())
    return _text(zk.answer_ok(taken))


@bp.get("/getrequest")
def getrequest():
    """GET /iclock/getrequest?SN=…: the queued commands, or OK."""
    return _retrying(_getrequest)


def _getrequest() -> Response:
    with _services().Session.begin() as session:
        device, refused = _admitted(session)
        if refused:
            return refused
        now = utcnow()
        facts.sync_commands(session, device, now)
        lines = facts.hand_out(session, device, now)
    return _text(zk.format_commands(lines))


@bp.post("/devicecmd")
def devicecmd():
    """POST /iclock/devicecmd?SN=…: `ID=…&Return=…&CMD=…` lines; OK once recorded."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _text("BODY TOO LARGE", 413)
    body = _body()
    return _retrying(lambda: _devicecmd(body))


def _devicecmd(body: str) -> Response:
    with _services().Session.begin() as session:
        device, refused = _admitted(session)
        if refused:
            return refused
        replies, problems = zk.parse_device_replies(body)
        unknown = facts.confirm(session, device, replies, utcnow())
        if problems or unknown:
            log.warning("iclock devicecmd from %s: unreadable lines %s, unknown commands on lines %s", device.serial,
                        [p.line_no for p in problems], unknown)
    return _text(zk.ANSWER_OK)


def init_app(app) -> None:
    """Register the endpoints on `app`, outside CSRF (the terminals post no form)."""
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)
