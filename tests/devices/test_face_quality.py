"""Quality checks refuse, with a typed code and a message, what would make a poor template."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.face_clips import load_photo, on_canvas
from devices.face_quality import QualityLimits, check_quality
from domain.face import FaceRefusal, FaceRefused
from tests.helpers.faces import canvas_photo, face_model


def quality(frame: np.ndarray):
    return check_quality(frame, face_model().detect(frame))


def refusal(frame: np.ndarray) -> FaceRefused:
    with pytest.raises(FaceRefused) as caught:
        quality(frame)
    assert caught.value.message and "{" not in caught.value.message
    return caught.value


def test_a_well_lit_sharp_frontal_face_passes():
    face = quality(canvas_photo("obama.jpg"))
    assert face.size >= QualityLimits().min_face_px


def test_no_face_is_refused():
    empty = np.full((480, 640, 3), 128, np.uint8)
    cv2.putText(empty, "shiming", (120, 260), cv2.FONT_HERSHEY_SIMPLEX, 3, (40, 40, 40), 6)
    assert refusal(empty).code == FaceRefusal.NO_FACE


def test_two_faces_are_refused():
    refused = refusal(on_canvas(load_photo("group.jpg")))
    assert refused.code == FaceRefusal.MULTIPLE_FACES
    assert refused.detail == "6"


def test_too_dark_is_refused():
    dark = (canvas_photo("obama.jpg") * 0.2).astype(np.uint8)
    assert refusal(dark).code == FaceRefusal.TOO_DARK


def test_too_bright_is_refused():
    bright = cv2.convertScaleAbs(canvas_photo("obama.jpg"), alpha=0.5, beta=170)
    assert refusal(bright).code == FaceRefusal.TOO_BRIGHT


def test_blurred_is_refused():
    blurred = cv2.GaussianBlur(canvas_photo("obama.jpg"), (0, 0), 3)
    refused = refusal(blurred)
    assert refused.code == FaceRefusal.BLURRED
    assert "sharpness" in refused.message


def test_too_small_is_refused():
    far = on_canvas(load_photo("obama.jpg"), scale=0.7)
    refused = refusal(far)
    assert refused.code == FaceRefusal.FACE_TOO_SMALL
    assert "px" in refused.message
