"""Liveness: head turns in the session's order pass; a still or replayed photo, or another order, fails."""
from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.face_clips import challenge_frames, load_photo, still_frames, write_clip
from devices.camera import FrameSource
from devices.face_model import DetectedFace
from devices.liveness import LivenessCheck, LivenessLimits, check_liveness, pitch_ratio, yaw_ratio
from domain.face import Challenge, FaceRefusal, FaceRefused, new_challenge
from tests.helpers.faces import canvas_photo, face_model, one_face

LEFT, RIGHT, UP, DOWN = Challenge.TURN_LEFT, Challenge.TURN_RIGHT, Challenge.LOOK_UP, Challenge.LOOK_DOWN


@pytest.fixture(scope="module")
def left_right_clip(tmp_path_factory):
    frame = canvas_photo("obama.jpg")
    frames = challenge_frames(frame, one_face(frame), [LEFT, RIGHT])
    return write_clip(tmp_path_factory.mktemp("clips") / "left-right.avi", frames)


def refusal(frames, challenge) -> FaceRefusal:
    with pytest.raises(FaceRefused) as caught:
        check_liveness(frames, face_model(), challenge)
    return caught.value.code


def test_challenge_following_video_passes(left_right_clip):
    with FrameSource.open(str(left_right_clip)) as source:
        result, kept = check_liveness(source.frames(), face_model(), [LEFT, RIGHT])
    assert result.observed == (LEFT, RIGHT)
    assert abs(yaw_ratio(result.frontal_face.landmarks)) <= LivenessLimits().frontal_ratio
    assert kept[result.frontal_index].shape == (480, 640, 3)
    assert set(result.turn_peaks) == {LEFT, RIGHT} and set(kept) == {result.frontal_index} | {
        index for index, _ in result.turn_peaks.values()}


def test_nods_and_turns_in_the_sessions_order_pass():
    frame = canvas_photo("obama.jpg")
    frames = challenge_frames(frame, one_face(frame), [UP, RIGHT, DOWN])
    result, _ = check_liveness(frames, face_model(), [UP, RIGHT, DOWN])
    assert result.observed == (UP, RIGHT, DOWN)


def test_video_recorded_for_the_other_order_is_refused(left_right_clip):
    with FrameSource.open(str(left_right_clip)) as source:
        assert refusal(source.frames(), [RIGHT, LEFT]) == FaceRefusal.CHALLENGE_WRONG_ORDER


def test_replayed_static_image_is_refused():
    frame = canvas_photo("obama.jpg")
    assert refusal([frame] * 5, [LEFT, RIGHT]) == FaceRefusal.STATIC_IMAGE


def test_photo_moved_in_front_of_the_camera_never_turns():
    assert refusal(still_frames(load_photo("obama.jpg"), count=5), [LEFT, RIGHT]) == FaceRefusal.NO_HEAD_TURN


def test_yaw_and_pitch_ignore_moving_tilting_and_scaling_a_flat_picture():
    landmarks = np.array([[100, 100], [140, 100], [121, 125], [102, 145], [138, 145]], np.float32)
    angle = np.radians(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    moved = (landmarks @ rotation.T) * 1.7 + np.float32([35, -12])
    assert yaw_ratio(moved) == pytest.approx(yaw_ratio(landmarks), abs=1e-5)
    assert pitch_ratio(moved) == pytest.approx(pitch_ratio(landmarks), abs=1e-5)


# the state machine on landmark-only frames: cheap, so the orders and edge cases are covered exactly
def landmarks_for(ratio: float, nod: float = 0.0) -> np.ndarray:
    """Eyes 40 apart at y = 100, mouth at y = 145, the nose moved by `ratio` eye distances
    sideways and by `nod` eye-to-mouth distances down."""
    return np.array([[100, 100], [140, 100], [120 + 40 * ratio, 125 + 45 * nod], [102, 145], [138, 145]], np.float32)


def run_yaws(ratios, challenge, limits=LivenessLimits()):
    """Feed frames whose landmarks show these yaw ratios (or (yaw, nod) pairs; None: no face)."""
    check = LivenessCheck(challenge, limits)
    for i, ratio in enumerate(ratios):
        frame = np.full((48, 64, 3), (i * 37) % 256, np.uint8)   # frames that differ: not a still image
        pose = ratio if isinstance(ratio, tuple) else (ratio, 0.0)
        faces = [] if ratio is None else [DetectedFace((80, 60, 90, 110), 0.99, landmarks_for(*pose))]
        check.feed(frame, faces)
    return check.result()


@pytest.mark.parametrize("ratios, challenge, code", [
    ([0, 0.3, 0.3, 0, -0.3, -0.3, 0], (RIGHT, LEFT), FaceRefusal.CHALLENGE_WRONG_ORDER),
    ([0, 0.3, 0.3, 0], (LEFT, RIGHT), FaceRefusal.CHALLENGE_INCOMPLETE),
    ([0, -0.3, 0.3, 0], (RIGHT, LEFT), FaceRefusal.NO_HEAD_TURN),          # one frame per side is a jitter, not a turn
    ([0.3, 0.3, -0.3, -0.3], (LEFT, RIGHT), FaceRefusal.NO_FRONTAL_FACE),
    ([None, None, None, 0, 0.3], (LEFT,), FaceRefusal.NO_FACE),
    ([0.05, 0.1, 0.12, 0.1, 0.05], (LEFT,), FaceRefusal.NO_HEAD_TURN),
    ([0, (0, -0.2), (0, -0.2), 0, (0, 0.2), (0, 0.2)], (DOWN, UP), FaceRefusal.CHALLENGE_WRONG_ORDER),
    ([0, (0, 0.05), (0, 0.08), (0.1, 0.05)], (UP,), FaceRefusal.NO_HEAD_TURN),
])
def test_turn_sequences_that_do_not_meet_the_challenge_are_refused(ratios, challenge, code):
    with pytest.raises(FaceRefused) as caught:
        run_yaws(ratios, challenge)
    assert caught.value.code == code
    assert caught.value.message


def test_both_orders_pass_when_asked_and_a_mirrored_source_swaps_sides():
    assert run_yaws([0, 0.3, 0.3, 0, -0.3, -0.3], (LEFT, RIGHT)).observed == (LEFT, RIGHT)
    assert run_yaws([0, -0.3, -0.3, 0, 0.3, 0.3], (RIGHT, LEFT)).observed == (RIGHT, LEFT)
    mirrored = LivenessLimits(mirrored=True)
    assert run_yaws([0, 0.3, 0.3, 0, -0.3, -0.3], (RIGHT, LEFT), mirrored).observed == (RIGHT, LEFT)
    nods = [(0, 0.1), (0, -0.1), (0, -0.1), (0, 0.1), (0, 0.3), (0, 0.3)]      # nose 0.1 low when frontal
    assert run_yaws(nods, (UP, DOWN)).observed == (UP, DOWN)


def test_a_second_person_in_the_picture_is_refused():
    check = LivenessCheck((LEFT, RIGHT))
    face = DetectedFace((80, 60, 90, 110), 0.99, landmarks_for(0))
    with pytest.raises(FaceRefused) as caught:
        check.feed(np.zeros((48, 64, 3), np.uint8), [face, face])
    assert caught.value.code == FaceRefusal.MULTIPLE_FACES


def test_challenge_is_drawn_per_session():
    challenges = {new_challenge(random.Random(seed)) for seed in range(200)}
    assert len(challenges) == 24                     # 3 different movements of 4, in every order
    assert all(len(set(c)) == 3 for c in challenges)
    assert {new_challenge(random.Random(seed), length=2) for seed in range(200)} >= {(LEFT, RIGHT), (RIGHT, LEFT)}
