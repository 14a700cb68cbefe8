"""The local device agent on the enrolment / enterprise PC (`shiming agent`; docs/devices.md, "Device agent").

A browser cannot reach PC/SC or a camera, so the platform's pages ask this small HTTP service on
the same PC: read the ID card, capture a live face, have the USB key sign a login challenge.

Contract:
- Loopback only: `serve` refuses any address that is not a loopback address, and every request
  must name a loopback host in `Host` (a DNS-rebinding page cannot reach it under another name).
- Origin: only the configured platform origin(s) may call (`--origin`, SHIMING_AGENT_ORIGINS).
  CORS headers are sent for that origin only; a preflight (OPTIONS) is answered for it; a request
  with any other Origin, or with none, is refused with 403 `origin_refused`.
- Pairing: `shiming agent pair` draws a random token, keeps only its SHA-256 in the agent's
  config file (mode 0600) and prints the token once; the operator types it into the platform's
  page once (kept in that browser's storage for the platform origin). Every request but a
  preflight carries it in `X-Shiming-Agent-Token` (or `Authorization: Bearer`); it is compared in
  constant time; missing or wrong is 401. Nothing a caller sends at run time changes what is trusted.
- JSON in and out. A refusal is `{"error": {"kind", "code", "message"}}`: `kind` is `agent`,
  `id_card`, `face` or `usb_key`, `code` one of that kind's refusal codes (domain.id_card.IdCardRefusal,
  domain.face.FaceRefusal, domain.usb_key.UsbKeyRefusal), `message` English detail; the platform
  shows its own translation of the code.

Endpoints:
    GET  /status          which devices are there: {"card_reader", "usb_key_reader", "camera"}
    POST /id-card/read    {} -> {"identity": {...}}: the checked identity, the full ID number included
    POST /face/capture    {"challenge": ["turn_left", ...]} -> template, quality, liveness
    POST /usb-key/sign    {"challenge": base64} -> {"signature", "public_key"} (base64)

Device calls block; the server is threaded and each device is used by one request at a time.
Logs name the ID number masked only, never the name, the template or the token.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, jsonify, request

from domain.errors import CodedError
from domain.face import Challenge, FaceRefusal, FaceRefused
from domain.id_card import IdCardError, IdCardRefusal, IdentityRecord
from domain.usb_key import UsbKeyError, UsbKeyRefusal, check_challenge

log = logging.getLogger("shiming.agent")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18765
TOKEN_HEADER = "X-Shiming-Agent-Token"
ALLOWED_HEADERS = f"Content-Type, {TOKEN_HEADER}"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_BODY = 16 * 1024


class AgentConfigError(ValueError):
    """The agent cannot start as configured (message for the operator)."""


# ---- configuration and pairing ---------------------------------------------------------------


def default_config_path() -> Path:
    home = os.environ.get("SHIMING_AGENT_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "shiming"
    return base / "agent.json"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def pair(config_path: Path) -> str:
    """Draw a new pairing token, keep its hash in `config_path` (mode 0600; the folder 0700) and
    return the token, to be shown once. A new pairing replaces the old one: browsers holding the
    old token are refused from then on."""
    token = secrets.token_urlsafe(32)
    config_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"token_sha256": token_digest(token), "paired_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = config_path.with_name(config_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, config_path)
    return token


def load_token_digest(config_path: Path) -> str:
    try:
        data = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise AgentConfigError(f"the agent is not paired: run `shiming agent pair` first ({config_path} missing)") from None
    except (OSError, ValueError) as exc:
        raise AgentConfigError(f"the agent's config file {config_path} cannot be read: {exc}") from None
    if config_path.stat().st_mode & 0o077:
        raise AgentConfigError(f"{config_path} is readable by other users: chmod 600 it, or pair again")
    digest = data.get("token_sha256") if isinstance(data, dict) else None
    if not isinstance(digest, str) or len(digest) != 64:
        raise AgentConfigError(f"{config_path} holds no pairing: run `shiming agent pair`")
    return digest


def normalise_origin(origin: str) -> str:
    """`scheme://host[:port]` in lower case, as a browser sends it; AgentConfigError otherwise."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise AgentConfigError(f"not an origin (scheme://host[:port]): {origin!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host.lower()}{port}"


def check_loopback(host: str) -> str:
    """The address to bind, if it is a loopback one; AgentConfigError for anything else."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise AgentConfigError(f"the agent listens on a loopback address only, not {host!r}") from None
    if not address.is_loopback:
        raise AgentConfigError(f"the agent listens on a loopback address only (127.0.0.1 or ::1), not {host}")
    return str(address)


@dataclass
class AgentConfig:
    origins: tuple[str, ...]
    token_sha256: str

    def __post_init__(self):
        if not self.origins:
            raise AgentConfigError("no platform origin configured: pass --origin https://platform.example "
                                   "or set SHIMING_AGENT_ORIGINS")
        self.origins = tuple(normalise_origin(o) for o in self.origins)


@dataclass
class AgentDevices:
    """What the agent drives. `card_reader` and `usb_key` are objects of the `CardReader` and
    `UsbKey` protocols (PC/SC by default, a vendor backend alike); `camera` is a FrameSource spec
    (index, video file, stream URL); `model` builds the face model (once, on first use)."""

    card_reader: object
    usb_key: object
    camera: Union[int, str]
    model: Callable[[], object]
    card_reader_name: Optional[str] = None
    usb_key_reader_name: Optional[str] = None
    max_frames: int = 150
    locks: dict = field(default_factory=lambda: {k: threading.Lock() for k in ("card", "key", "camera", "model")})
    _model: object = field(default=None, init=False, repr=False)

    def face_model(self):
        with self.locks["model"]:
            if self._model is None:
                self._model = self.model()
            return self._model


def load_card_reader(spec: str):
    """A vendor-SDK `CardReader` named `package.module:ClassName` (docs/devices.md, "Plugging in a
    vendor SDK"), built without arguments; its own configuration is its business."""
    import importlib

    from devices.id_card_reader import CardReader

    module_name, _, class_name = spec.partition(":")
    try:
        reader = getattr(importlib.import_module(module_name), class_name)()
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise AgentConfigError(f"card reader class {spec!r} cannot be loaded: {exc}") from None
    if not isinstance(reader, CardReader):
        raise AgentConfigError(f"{spec} has no read_text_block(): not a CardReader")
    return reader


def pcsc_devices(camera: Union[int, str] = 0, card_reader_name: Optional[str] = None,
                 usb_key_reader_name: Optional[str] = None, card_reader_class: Optional[str] = None) -> AgentDevices:
    from devices.face_model import FacenetModel
    from devices.id_card_reader import PcscCardReader
    from devices.usb_key import PcscUsbKey

    card_reader = load_card_reader(card_reader_class) if card_reader_class else PcscCardReader(card_reader_name)
    return AgentDevices(card_reader, PcscUsbKey(usb_key_reader_name), camera, FacenetModel,
                        card_reader_name, usb_key_reader_name)


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
