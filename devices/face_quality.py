"""Quality checks on one captured frame before its face is used (ENR-3).

`check_quality(frame, faces)` returns the one face fit for a template or raises `FaceRefused`:
NO_FACE, MULTIPLE_FACES, FACE_TOO_SMALL, TOO_DARK / TOO_BRIGHT (mean grey level of the face
box) and BLURRED (variance of the Laplacian of the face box scaled to a fixed width, so it does not
depend on how far the worker stands). When no face is found at all, a frame that is itself too
dark or too blurred is refused with that reason instead, since that is what the worker can fix.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from devices.face_model import DetectedFace
from domain.face import FaceRefusal, FaceRefused

SHARPNESS_WIDTH = 128                    # the face box is scaled to this width before the Laplacian


@dataclass(frozen=True)
class QualityLimits:
    min_face_px: int = 80                # shorter side of the face box, on a 640 x 480 frame
    min_brightness: float = 50.0         # mean grey level 0..255
    max_brightness: float = 210.0
    min_sharpness: float = 40.0          # variance of the Laplacian; measured values in docs/faces.md


def brightness(gray: np.ndarray) -> float:
    return float(gray.mean())


def sharpness(gray: np.ndarray) -> float:
    h, w = gray.shape[:2]
    if w != SHARPNESS_WIDTH and w > 0:
        gray = cv2.resize(gray, (SHARPNESS_WIDTH, max(1, round(h * SHARPNESS_WIDTH / w))),
                          interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def face_region(gray: np.ndarray, face: DetectedFace) -> np.ndarray:
    x, y, w, h = face.box
    return gray[max(y, 0):y + h, max(x, 0):x + w]


def check_quality(frame: np.ndarray, faces: list[DetectedFace], limits: QualityLimits = QualityLimits()) -> DetectedFace:
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if not faces:
        _check_light_and_focus(gray, limits)
        raise FaceRefused(FaceRefusal.NO_FACE)
    if len(faces) > 1:
        raise FaceRefused(FaceRefusal.MULTIPLE_FACES, str(len(faces)))
    face = faces[0]
    if face.size < limits.min_face_px:
        raise FaceRefused(FaceRefusal.FACE_TOO_SMALL, f"{face.size} px, at least {limits.min_face_px} px needed")
    _check_light_and_focus(face_region(gray, face), limits)
    return face


def _check_light_and_focus(gray: np.ndarray, limits: QualityLimits) -> None:
    level = brightness(gray)
    if level < limits.min_brightness:
        raise FaceRefused(FaceRefusal.TOO_DARK, f"brightness {level:.0f}, at least {limits.min_brightness:.0f} needed")
    if level > limits.max_brightness:
        raise FaceRefused(FaceRefusal.TOO_BRIGHT, f"brightness {level:.0f}, at most {limits.max_brightness:.0f} allowed")
    focus = sharpness(gray)
    if focus < limits.min_sharpness:
        raise FaceRefused(FaceRefusal.BLURRED, f"sharpness {focus:.0f}, at least {limits.min_sharpness:.0f} needed")
