"""Liveness by a head-turn challenge across frames (ENR-3).

The session asks for head turns in an order drawn per session (domain.face.new_challenge); the
frames must show the worker looking straight at the camera, then the turns in exactly that order.

Yaw comes from the five landmarks: the nose tip's offset from the midpoint between the eyes,
projected on the eye axis and divided by the eye distance (`yaw_ratio`). It is about 0 for a
frontal face, grows as the head turns, and is unchanged by moving, tilting or scaling a flat
picture — so a photo held up and moved in front of the camera never turns. A frame counts as
turned at |ratio| >= `turn_ratio` (about 15 degrees of real head turn), as frontal at
|ratio| <= `frontal_ratio`. A turn is seen after `min_turn_frames` consecutive turned frames.

Refusals (`FaceRefused`): STATIC_IMAGE (consecutive frames nearly identical: a replayed still
image), MULTIPLE_FACES, NO_FACE, NO_FRONTAL_FACE, NO_HEAD_TURN (a face that never turns: a
photo), CHALLENGE_WRONG_ORDER (the turns of another session's order: a recorded video),
CHALLENGE_INCOMPLETE, SOURCE_ENDED is the caller's when the camera stops.

`LivenessCheck` is fed frame by frame (the agent shows progress and stops as soon as the challenge
is met); `check_liveness` runs it over an iterable of frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from devices.face_model import DetectedFace, FaceModel
from domain.face import Challenge, FaceRefusal, FaceRefused

MOTION_SIZE = (80, 60)                   # frames are compared at this size for the still-image test


@dataclass(frozen=True)
class LivenessLimits:
    turn_ratio: float = 0.15
    frontal_ratio: float = 0.08
    min_turn_frames: int = 2
    min_face_frames: float = 0.5         # share of frames that must show exactly one face
    still_difference: float = 0.6        # mean absolute grey difference below which two frames are "the same"
    mirrored: bool = False               # the source mirrors the picture (a selfie preview)


def yaw_ratio(landmarks: np.ndarray) -> float:
    eye_a, eye_b, nose = (landmarks[i].astype(np.float64) for i in range(3))
    axis = eye_b - eye_a
    span = float(np.dot(axis, axis))
    if span == 0.0:
        return 0.0
    return float(np.dot(nose - (eye_a + eye_b) / 2, axis) / span)


@dataclass
class LivenessResult:
    observed: tuple[Challenge, ...]
    frontal_index: int                   # the most frontal frame, for the template
    frontal_face: DetectedFace
    frames: int
    yaws: list[Optional[float]] = field(repr=False)
    turn_peaks: dict[Challenge, tuple[int, DetectedFace]] = field(default_factory=dict, repr=False)
    """the most turned frame of each turn: the capture checks it shows the same person"""


class LivenessCheck:
    def __init__(self, challenge: Sequence[Challenge], limits: LivenessLimits = LivenessLimits()):
        if not challenge:
            raise ValueError("a liveness challenge needs at least one head turn")
        self.challenge = tuple(Challenge(c) for c in challenge)
        self.limits = limits
        self.yaws: list[Optional[float]] = []
        self.observed: list[Challenge] = []
        self._run: tuple[Optional[Challenge], int] = (None, 0)
        self._previous: Optional[np.ndarray] = None
        self._moving = False
        self._frontal: Optional[tuple[float, int, DetectedFace]] = None
        self._frontal_before_turn = False
        self._face_frames = 0
        self._peaks: dict[Challenge, tuple[float, int, DetectedFace]] = {}

    @property
    def frontal_index(self) -> Optional[int]:
        return None if self._frontal is None else self._frontal[1]

    @property
    def kept_indices(self) -> set[int]:
        """The frames the result will name (the most frontal, the most turned of each side)."""
        kept = {peak[1] for peak in self._peaks.values()}
        return kept | ({self._frontal[1]} if self._frontal is not None else set())

    @property
    def done(self) -> bool:
        return tuple(self.observed[:len(self.challenge)]) == self.challenge and self._frontal is not None

    def feed(self, frame: np.ndarray, faces: list[DetectedFace]) -> None:
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), MOTION_SIZE, interpolation=cv2.INTER_AREA)
        if self._previous is not None and float(cv2.absdiff(small, self._previous).mean()) >= self.limits.still_difference:
            self._moving = True
        self._previous = small
        index = len(self.yaws)
        if len(faces) > 1:
            raise FaceRefused(FaceRefusal.MULTIPLE_FACES, str(len(faces)))
        if not faces:
            self.yaws.append(None)
            self._run = (None, 0)
            return
        self._face_frames += 1
        face = faces[0]
        ratio = yaw_ratio(face.landmarks) * (-1.0 if self.limits.mirrored else 1.0)
        self.yaws.append(ratio)
        if abs(ratio) <= self.limits.frontal_ratio:
            if self._frontal is None or abs(ratio) < self._frontal[0]:
                self._frontal = (abs(ratio), index, face)
            if not self.observed:
                self._frontal_before_turn = True
        pose = (Challenge.TURN_LEFT if ratio >= self.limits.turn_ratio
                else Challenge.TURN_RIGHT if ratio <= -self.limits.turn_ratio else None)
        count = self._run[1] + 1 if pose is not None and pose == self._run[0] else 1
        if pose is not None and (pose not in self._peaks or abs(ratio) > self._peaks[pose][0]):
            self._peaks[pose] = (abs(ratio), index, face)
        self._run = (pose, count)
        if pose is not None and count == self.limits.min_turn_frames and self._frontal_before_turn \
                and (not self.observed or self.observed[-1] != pose):
            self.observed.append(pose)

    def result(self) -> LivenessResult:
        """The verdict over the frames fed so far: a result, or `FaceRefused` with the reason."""
        frames = len(self.yaws)
        if frames > 1 and not self._moving:
            raise FaceRefused(FaceRefusal.STATIC_IMAGE)
        if frames == 0 or self._face_frames < max(1, self.limits.min_face_frames * frames):
            raise FaceRefused(FaceRefusal.NO_FACE)
        if self._frontal is None:
            raise FaceRefused(FaceRefusal.NO_FRONTAL_FACE)
        seen = tuple(self.observed[:len(self.challenge)])
        if not seen:
            raise FaceRefused(FaceRefusal.NO_HEAD_TURN)
        if seen != self.challenge:
            detail = f"asked {', '.join(self.challenge)}; seen {', '.join(seen)}"
            if len(seen) == len(self.challenge) or not _is_prefix(seen, self.challenge):
                raise FaceRefused(FaceRefusal.CHALLENGE_WRONG_ORDER, detail)
            raise FaceRefused(FaceRefusal.CHALLENGE_INCOMPLETE, detail)
        _, index, face = self._frontal
        peaks = {turn: self._peaks[turn][1:] for turn in self.challenge}
        return LivenessResult(tuple(self.observed), index, face, frames, list(self.yaws), peaks)


def _is_prefix(seen: Sequence[Challenge], challenge: Sequence[Challenge]) -> bool:
    return tuple(challenge[:len(seen)]) == tuple(seen)


def check_liveness(frames: Iterable[np.ndarray], model: FaceModel, challenge: Sequence[Challenge],
                   limits: LivenessLimits = LivenessLimits(), max_frames: int = 150
                   ) -> tuple[LivenessResult, dict[int, np.ndarray]]:
    """Run the challenge over `frames` (stops reading once it is met, or after `max_frames`).
    Returns the result and the frames it names by index (the most frontal frame, for the quality
    check and the template, and the peak of each turn); other frames are not kept."""
    check = LivenessCheck(challenge, limits)
    kept: dict[int, np.ndarray] = {}
    for index, frame in enumerate(frames):
        check.feed(frame, model.detect(frame))
        kept[index] = frame
        kept = {i: kept[i] for i in check.kept_indices if i in kept}
        if check.done or index + 1 >= max_frames:
            break
    return check.result(), kept
