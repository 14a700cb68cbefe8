"""A live capture gives the worker's template; a face swapped in after the turns is refused."""
from __future__ import annotations

import cv2
import pytest

from benchmarks.face_clips import challenge_frames, load_photo
from devices.face_capture import capture_live_face
from domain.face import Challenge, FaceRefusal, FaceRefused
from tests.helpers.faces import canvas_photo, face_model, one_face

LEFT, RIGHT = Challenge.TURN_LEFT, Challenge.TURN_RIGHT


def test_live_capture_gives_a_template_of_the_worker():
    frame = canvas_photo("obama.jpg")
    captured = capture_live_face(challenge_frames(frame, one_face(frame), [RIGHT, LEFT]), face_model(), [RIGHT, LEFT])
    assert captured.liveness.observed == (RIGHT, LEFT)
    assert min(captured.continuity.values()) >= 0.40
    other_photo = cv2.resize(load_photo("obama2.jpg"), None, fx=1.5, fy=1.5)
    (face,) = face_model().detect(other_photo)
    assert float(captured.template @ face_model().template(other_photo, face)) >= face_model().match_threshold


def test_turns_by_another_person_than_the_frontal_face_are_refused():
    worker = canvas_photo("obama.jpg")
    stand_in = canvas_photo("hanks.png")          # his photo is turned to his left (yaw ratio 0.17)
    stand_in_other_way = cv2.flip(stand_in, 1)
    frames = [worker, stand_in, stand_in.copy(), stand_in_other_way, stand_in_other_way.copy()]
    with pytest.raises(FaceRefused) as caught:
        capture_live_face(frames, face_model(), [LEFT, RIGHT])
    assert caught.value.code == FaceRefusal.FACE_CHANGED


def test_a_live_but_dark_capture_is_refused_by_the_quality_check():
    frame = (canvas_photo("obama.jpg") * 0.25).astype("uint8")
    with pytest.raises(FaceRefused) as caught:
        capture_live_face(challenge_frames(frame, one_face(frame), [LEFT, RIGHT]), face_model(), [LEFT, RIGHT])
    assert caught.value.code == FaceRefusal.TOO_DARK
