"""One live face capture for enrolment: liveness, quality, template, same person throughout (ENR-3).

`capture_live_face(frames, model, challenge)` is what the device agent runs on the camera's frames:
1. the head-turn challenge (devices/liveness.py) — it keeps the most frontal frame and the most
   turned frame of each turn;
2. the quality checks (devices/face_quality.py) on the frontal frame;
3. the template of the frontal face, and one of each turn's peak: each must score at least
   `same_person` against the frontal one, or the capture is refused with FACE_CHANGED (someone
   turned their head, then held up another person's photo to look straight at the camera).
   Turned and frontal views of one person score lower than two frontal views, so this bar is
   below the match threshold (0.40 for the default model, against 0.60–0.70 measured for one
   person's simulated turns and 0.13 for the median pair of different people; docs/faces.md).

The result carries the template (to be sealed with domain.face.encrypt_template) and the frontal
frame (for the enrolment's watermarked photo); neither is logged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from devices.face_model import FaceModel
from devices.face_quality import QualityLimits, check_quality
from devices.liveness import LivenessLimits, LivenessResult, check_liveness
from domain.face import Challenge, FaceRefusal, FaceRefused


@dataclass
class LiveFace:
    template: np.ndarray = field(repr=False)
    frame: np.ndarray = field(repr=False)
    liveness: LivenessResult
    continuity: dict[Challenge, float]   # cosine of each turn's peak against the frontal face


def capture_live_face(frames: Iterable[np.ndarray], model: FaceModel, challenge: Sequence[Challenge],
                      liveness: LivenessLimits = LivenessLimits(), quality: QualityLimits = QualityLimits(),
                      same_person: float = 0.40, max_frames: int = 150) -> LiveFace:
    result, kept = check_liveness(frames, model, challenge, liveness, max_frames)
    frame = kept[result.frontal_index]
    face = check_quality(frame, [result.frontal_face], quality)
    template = model.template(frame, face)
    continuity = {}
    for turn, (index, turned) in result.turn_peaks.items():
        continuity[turn] = float(np.dot(template, model.template(kept[index], turned)))
        if continuity[turn] < same_person:
            raise FaceRefused(FaceRefusal.FACE_CHANGED, f"{turn}: {continuity[turn]:.2f}")
    return LiveFace(template, frame, result, continuity)
