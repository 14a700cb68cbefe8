"""The device agent's HTTP service: the guard every request passes (loopback host, platform origin,
pairing token), CORS for that origin, JSON refusals, and the device endpoints."""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import Optional

from flask import Blueprint, Flask, current_app, g, jsonify, request

from domain.errors import CodedError
from domain.face import Challenge, FaceRefusal, FaceRefused
from domain.id_card import IdCardError, IdCardRefusal, IdentityRecord
from domain.usb_key import UsbKeyError, UsbKeyRefusal, check_challenge

from .config import AgentConfig, AgentConfigError, AgentDevices, check_loopback, normalise_origin, token_digest

log = logging.getLogger("shiming.agent")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18765
TOKEN_HEADER = "X-Shiming-Agent-Token"
ALLOWED_HEADERS = f"Content-Type, {TOKEN_HEADER}"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_BODY = 16 * 1024


# ---- errors ----------------------------------------------------------------------------------


class AgentError(CodedError):
    def __init__(self, status: int, kind: str, code: str, message: str):
        super().__init__(code, message=f"{kind}/{code}: {message}")
        self.status, self.kind, self.message = status, kind, message


_UNAVAILABLE = {IdCardRefusal.NO_READER, IdCardRefusal.READER_NOT_FOUND, UsbKeyRefusal.NO_READER,
                UsbKeyRefusal.READER_NOT_FOUND, FaceRefusal.CAMERA_UNAVAILABLE, FaceRefusal.MODEL_FILE_MISSING}


def _refusal(kind: str, exc) -> AgentError:
    status = 503 if exc.code in _UNAVAILABLE else 422
    if isinstance(exc, UsbKeyError) and exc.code is UsbKeyRefusal.BAD_CHALLENGE:
        status = 400
    return AgentError(status, kind, str(exc.code), exc.message)


def _bad_request(message: str) -> AgentError:
    return AgentError(400, "agent", "bad_request", message)


# ---- the app -----------------------------------------------------------------------------------

bp = Blueprint("agent", __name__)


def _config() -> AgentConfig:
    return current_app.extensions["shiming_agent"]["config"]


def _devices() -> AgentDevices:
    return current_app.extensions["shiming_agent"]["devices"]


def _presented_token() -> str:
    token = request.headers.get(TOKEN_HEADER, "")
    if not token:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    return token


@bp.before_app_request
def _guard():
    g.cors_origin = None
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host[1:].split("]")[0]
    if host.lower() not in LOOPBACK_NAMES:
        raise AgentError(403, "agent", "host_refused", "The agent answers only on a loopback address.")
    origin = request.headers.get("Origin", "")
    try:
        allowed = bool(origin) and normalise_origin(origin) in _config().origins
    except AgentConfigError:
        allowed = False
    if not allowed:
        log.warning("refused a request from origin %r", origin[:100])
        raise AgentError(403, "agent", "origin_refused", "This page is not allowed to use the device agent.")
    g.cors_origin = origin
    if request.method == "OPTIONS":
        return current_app.response_class(status=204)
    presented = _presented_token()
    expected = _config().token_sha256
    if not presented or not hmac.compare_digest(token_digest(presented), expected):
        log.warning("refused a request with %s pairing token", "a wrong" if presented else "no")
        raise AgentError(401, "agent", "not_paired" if not presented else "bad_token",
                         "This browser is not paired with the device agent: enter the pairing code shown by "
                         "`shiming agent pair`." if not presented else
                         "The pairing code is wrong or outdated: pair this browser with the device agent again.")
    if request.method == "POST" and request.content_length and request.content_length > MAX_BODY:
        raise _bad_request("The request is too large.")
    return None


@bp.after_app_request
def _cors(response):
    origin = getattr(g, "cors_origin", None)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        if request.headers.get("Access-Control-Request-Private-Network") == "true":
            response.headers["Access-Control-Allow-Private-Network"] = "true"
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.app_errorhandler(AgentError)
def _agent_error(exc: AgentError):
    return jsonify(error={"kind": exc.kind, "code": exc.code, "message": exc.message}), exc.status


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
@bp.app_errorhandler(413)
def _http_error(exc):
    return jsonify(error={"kind": "agent", "code": "bad_request", "message": exc.description}), exc.code


@bp.app_errorhandler(500)
def _internal_error(exc):
    log.error("agent failure: %s", type(getattr(exc, "original_exception", None) or exc).__name__)
    return jsonify(error={"kind": "agent", "code": "internal_error",
                          "message": "The device agent failed; see its log."}), 500


def _json_body() -> dict:
    if not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except ValueError:
        raise _bad_request("The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object.")
    return body


def _reader_present(name: Optional[str]) -> dict:
    from devices.pcsc import PcscFailure, reader_names

    try:
        names = reader_names()
    except PcscFailure as failure:
        return {"present": False, "code": failure.kind}
    if name is None:
        return {"present": bool(names)} if names else {"present": False, "code": "no_reader"}
    found = any(n == name or n.startswith(name) for n in names)
    return {"present": True} if found else {"present": False, "code": "reader_not_found"}


def _camera_present(devices: AgentDevices) -> dict:
    from devices.camera import FrameSource, describe

    with devices.locks["camera"]:
        try:
            FrameSource.open(devices.camera).close()
        except FaceRefused as exc:
            return {"present": False, "code": str(exc.code), "source": describe(devices.camera)}
    return {"present": True, "source": describe(devices.camera)}


@bp.get("/status")
def status():
    devices = _devices()
    present = getattr(devices.card_reader, "present", None)  # a vendor backend may say; PC/SC is asked otherwise
    card_reader = {"present": bool(present())} if callable(present) else _reader_present(devices.card_reader_name)
    return jsonify(card_reader=card_reader,
                   usb_key_reader=_reader_present(devices.usb_key_reader_name),
                   camera=_camera_present(devices))


def identity_json(record: IdentityRecord) -> dict:
    return {
        "name": record.name, "gender": record.gender, "nation_code": record.nation_code,
        "birth_date": record.birth_date.isoformat(), "address": record.address, "id_number": record.id_number,
        "masked_id_number": record.masked_id_number, "issuer": record.issuer,
        "valid_from": record.valid_from.isoformat(), "valid_to": record.valid_to.isoformat() if record.valid_to else None,
    }


@bp.post("/id-card/read")
def read_id_card():
    from devices.id_card_reader import read_identity

    devices = _devices()
    try:
        with devices.locks["card"]:
            record = read_identity(devices.card_reader)
    except IdCardError as exc:
        log.info("ID card refused: %s", exc)  # the message holds the masked number only
        raise _refusal("id_card", exc) from None
    log.info("ID card read: %s", record.masked_id_number)
    return jsonify(identity=identity_json(record))


def _challenge_of(body: dict) -> tuple[Challenge, ...]:
    raw = body.get("challenge")
    if not isinstance(raw, list) or not 1 <= len(raw) <= len(Challenge) or len(set(map(str, raw))) != len(raw):
        raise _bad_request(f"challenge must be a list of 1 to {len(Challenge)} different head movements.")
    try:
        return tuple(Challenge(item) for item in raw)
    except ValueError:
        raise _bad_request(f"challenge movements are {', '.join(Challenge)}.") from None


@bp.post("/face/capture")
def capture_face():
    from devices.camera import FrameSource
    from devices.face_capture import capture_live_face
    from devices.face_model import template_to_bytes
    from devices.face_quality import brightness, face_region, sharpness

    import cv2

    challenge = _challenge_of(_json_body())
    devices = _devices()
    try:
        model = devices.face_model()
        with devices.locks["camera"]:
            with FrameSource.open(devices.camera) as source:
                captured = capture_live_face(source.frames(limit=devices.max_frames), model, challenge,
                                             max_frames=devices.max_frames)
    except FaceRefused as exc:
        log.info("face capture refused: %s", exc.code)
        raise _refusal("face", exc) from None
    face = captured.liveness.frontal_face
    gray = face_region(cv2.cvtColor(captured.frame, cv2.COLOR_BGR2GRAY), face)
    log.info("face captured: %d frames, challenge %s", captured.liveness.frames, ",".join(challenge))
    return jsonify(
        template=base64.b64encode(template_to_bytes(captured.template)).decode("ascii"),
        model=model.name, dimension=int(model.dimension),
        quality={"face_px": int(face.size), "brightness": round(brightness(gray), 1),
                 "sharpness": round(sharpness(gray), 1)},
        liveness={"passed": True, "challenge": list(challenge), "observed": list(captured.liveness.observed),
                  "frames": captured.liveness.frames},
        continuity={str(turn): round(value, 3) for turn, value in captured.continuity.items()},
    )


@bp.post("/usb-key/sign")
def sign_challenge():
    body = _json_body()
    try:
        challenge = base64.b64decode(str(body.get("challenge", "")), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_request("challenge must be base64.") from None
    devices = _devices()
    try:
        challenge = check_challenge(challenge)
        with devices.locks["key"]:
            signature = devices.usb_key.sign(challenge)
            public_key = devices.usb_key.public_key()
    except UsbKeyError as exc:
        log.info("USB key refused: %s", exc.code)
        raise _refusal("usb_key", exc) from None
    log.info("USB key signed a %d-byte challenge", len(challenge))
    return jsonify(signature=base64.b64encode(signature).decode("ascii"),
                   public_key=base64.b64encode(public_key).decode("ascii"))


def create_agent_app(config: AgentConfig, devices: AgentDevices) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False)
    app.extensions["shiming_agent"] = {"config": config, "devices": devices}
    app.register_blueprint(bp)
    return app


def make_server(app: Flask, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
    """A threaded WSGI server for `app` on a loopback address (AgentConfigError otherwise)."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as werkzeug_server

    class Handler(WSGIRequestHandler):
        def version_string(self) -> str:  # no software versions in the answers
            return "shiming-agent"

    return werkzeug_server(check_loopback(host), port, app, threaded=True, request_handler=Handler)
