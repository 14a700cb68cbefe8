"""Face capture, liveness and matching: the I/O-free vocabulary (ENR-3).

Everything the device agent, the enrolment process and the web exchange about a face lives here,
without OpenCV or numpy, so a workflow or a page can import it:

- `FaceRefusal`: the typed refusal codes, each with an English message (the key for translation;
  `{detail}` placeholders carry measured values). `FaceRefused` carries one code and its values.
- `Challenge`: the head movements a liveness challenge asks for; `new_challenge` draws them and
  their order for one session, so a video recorded for another session's challenge fails.
- `encrypt_template` / `decrypt_template`: a face template (bytes) sealed with the PII cipher
  (AES-256-GCM), bound to the row it belongs to by the associated data, so a template copied onto
  another worker's row does not decrypt. The face is sensitive personal information: it is never
  stored or logged in the clear.

The devices side (devices/camera.py, devices/face_model.py, devices/face_quality.py,
devices/liveness.py, devices/face_match.py) raises `FaceRefused` with these codes.
"""
from __future__ import annotations

import base64
import random
from enum import StrEnum

from cryptography.exceptions import InvalidTag

from domain.errors import CodedError
from domain.pii import PiiCipher

TEMPLATE_CONTEXT = "face_template"


class FaceRefusal(StrEnum):
    CAMERA_UNAVAILABLE = "camera_unavailable"
    SOURCE_ENDED = "source_ended"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    BLURRED = "blurred"
    STATIC_IMAGE = "static_image"
    NO_HEAD_TURN = "no_head_turn"
    CHALLENGE_WRONG_ORDER = "challenge_wrong_order"
    CHALLENGE_INCOMPLETE = "challenge_incomplete"
    NO_FRONTAL_FACE = "no_frontal_face"
    FACE_CHANGED = "face_changed"
    MODEL_FILE_MISSING = "model_file_missing"
    TEMPLATE_INVALID = "template_invalid"


MESSAGES: dict[FaceRefusal, str] = {
    FaceRefusal.CAMERA_UNAVAILABLE: "The camera or video source cannot be opened: {detail}.",
    FaceRefusal.SOURCE_ENDED: "The camera stopped sending pictures before the check was done.",
    FaceRefusal.NO_FACE: "No face is visible. Look straight at the camera.",
    FaceRefusal.MULTIPLE_FACES: "{detail} faces are visible. Only the worker being enrolled may be in the picture.",
    FaceRefusal.FACE_TOO_SMALL: "The face is too small ({detail}). Come closer to the camera.",
    FaceRefusal.TOO_DARK: "The picture is too dark ({detail}). Turn on more light or face the light.",
    FaceRefusal.TOO_BRIGHT: "The picture is too bright ({detail}). Move out of direct light.",
    FaceRefusal.BLURRED: "The picture is blurred ({detail}). Hold still and clean the camera lens.",
    FaceRefusal.STATIC_IMAGE: "The camera shows a still image. A live person must stand in front of it.",
    FaceRefusal.NO_HEAD_TURN: "No head movement was seen. Follow the instructions and turn your head.",
    FaceRefusal.CHALLENGE_WRONG_ORDER: "The head turns were not in the order asked ({detail}). Please try again.",
    FaceRefusal.CHALLENGE_INCOMPLETE: "Not all head turns were seen ({detail}). Please try again.",
    FaceRefusal.NO_FRONTAL_FACE: "Look straight at the camera for a moment.",
    FaceRefusal.FACE_CHANGED: "The face changed during the check. The same person must stay in front of the camera.",
    FaceRefusal.MODEL_FILE_MISSING: "The face model file is missing: {detail}. Ask the operator to configure it.",
    FaceRefusal.TEMPLATE_INVALID: "The stored face template cannot be read: {detail}.",
}


class FaceRefused(CodedError):
    """A face step refused for a reason the person in front of the camera (or the operator) can fix."""

    def __init__(self, code: FaceRefusal, detail: str = ""):
        code = FaceRefusal(code)
        super().__init__(code, detail, message=f"{code}: {MESSAGES[code].format(detail=detail)}")

    @property
    def message(self) -> str:
        return MESSAGES[self.code].format(detail=self.detail)


class Challenge(StrEnum):
    """A head movement: a turn to the worker's own left or right (in an unmirrored camera picture
    a turn to the worker's left moves the nose towards the picture's right), or a look up or down."""

    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    LOOK_DOWN = "look_down"


CHALLENGE_LENGTH = 3


def new_challenge(rng: random.Random, length: int = CHALLENGE_LENGTH) -> tuple[Challenge, ...]:
    """The movements for one session: `length` different ones in an order drawn from `rng`
    (pass `random.SystemRandom()` in production; a seeded `Random` in tests). Three of four give
    24 orders, so a video recorded for one session fits another one time in 24."""
    if not 1 <= length <= len(Challenge):
        raise ValueError(f"a challenge has 1 to {len(Challenge)} movements")
    return tuple(rng.sample(list(Challenge), length))


def template_context(worker_ref: str) -> str:
    return f"{TEMPLATE_CONTEXT}:{worker_ref}"


def encrypt_template(cipher: PiiCipher, template: bytes, worker_ref: str) -> str:
    """Seal a face template for storage; `worker_ref` (e.g. the worker id) is bound as associated
    data, so the ciphertext only decrypts for that row."""
    return cipher.encrypt(base64.b64encode(template).decode("ascii"), template_context(worker_ref))


def decrypt_template(cipher: PiiCipher, token: str, worker_ref: str) -> bytes:
    try:
        return base64.b64decode(cipher.decrypt(token, template_context(worker_ref)), validate=True)
    except (InvalidTag, ValueError) as exc:  # another row or key, tampered, bad base64, unknown version
        raise FaceRefused(FaceRefusal.TEMPLATE_INVALID, type(exc).__name__) from exc
