"""Liveness by a head-movement challenge across frames (ENR-3).

The session asks for movements (turn left / right, look up / down) drawn per session
(domain.face.new_challenge); the frames must show the worker looking straight at the camera,
then the movements in exactly that order.

Both angles come from the five landmarks. Yaw: the nose tip's offset from the midpoint between
the eyes, projected on the eye axis and divided by the eye distance (`yaw_ratio`), about 0 for a
frontal face. Pitch: the nose tip's height between the eyes and the mouth (`pitch_ratio`), read
as a change from the first frontal frame's value. Neither changes when a flat picture is moved,
tilted or scaled — so a photo held up and moved in front of the camera never turns or nods. A
frame shows a turn at |yaw| >= `turn_ratio`, a nod at |pitch change| >= `nod_ratio` (modest
movements; not yet calibrated on real heads), is frontal when both are within `frontal_ratio`.
A movement is seen after `min_turn_frames` consecutive frames showing it.

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
    turn_ratio: float = 0.15             # |yaw ratio| of a turn
    nod_ratio: float = 0.10              # change of the pitch ratio from the frontal frame's, of a nod
    frontal_ratio: float = 0.08          # |yaw ratio| and |pitch change| of a frontal frame
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


def pitch_ratio(landmarks: np.ndarray) -> float:
    """The nose tip's height between the eyes' midpoint (0) and the mouth's midpoint (1), along
    the line joining them: it falls when the worker looks up, rises when they look down. Its
    frontal value differs from person to person (0.47-0.65 on the test photos), so a nod is read
    as a change from the frontal frame's value."""
    eyes = (landmarks[0].astype(np.float64) + landmarks[1]) / 2
    mouth = (landmarks[3].astype(np.float64) + landmarks[4]) / 2
    axis = mouth - eyes
    span = float(np.dot(axis, axis))
    if span == 0.0:
        return 0.0
    return float(np.dot(landmarks[2] - eyes, axis) / span)


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
        self._pitch_baseline: Optional[float] = None

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
        yaw = yaw_ratio(face.landmarks) * (-1.0 if self.limits.mirrored else 1.0)
        pitch = pitch_ratio(face.landmarks)
        self.yaws.append(yaw)
        if self._pitch_baseline is None and abs(yaw) <= self.limits.frontal_ratio:
            self._pitch_baseline = pitch          # this person's own frontal nose height
        nod = 0.0 if self._pitch_baseline is None else pitch - self._pitch_baseline
        if abs(yaw) <= self.limits.frontal_ratio and abs(nod) <= self.limits.frontal_ratio:
            offset = abs(yaw) + abs(nod)
            if self._frontal is None or offset < self._frontal[0]:
                self._frontal = (offset, index, face)
            if not self.observed:
                self._frontal_before_turn = True
        pose, strength = self._pose(yaw, nod)
        count = self._run[1] + 1 if pose is not None and pose == self._run[0] else 1
        if pose is not None and (pose not in self._peaks or strength > self._peaks[pose][0]):
            self._peaks[pose] = (strength, index, face)
        self._run = (pose, count)
        if pose is not None and count == self.limits.min_turn_frames and self._frontal_before_turn \
                and (not self.observed or self.observed[-1] != pose):
            self.observed.append(pose)

    def _pose(self, yaw: float, nod: float) -> tuple[Optional[Challenge], float]:
        """The movement a frame shows, if any, and how far past its limit (1.0 = at the limit)."""
        sideways, vertical = abs(yaw) / self.limits.turn_ratio, abs(nod) / self.limits.nod_ratio
        if max(sideways, vertical) < 1.0:
            return None, 0.0
        if sideways >= vertical:
            return (Challenge.TURN_LEFT if yaw > 0 else Challenge.TURN_RIGHT), sideways
        return (Challenge.LOOK_UP if nod < 0 else Challenge.LOOK_DOWN), vertical

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
