"""The default face model, built once per test process (its nets take a second to load)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from benchmarks.face_clips import load_photo, on_canvas
from devices.face_model import DetectedFace, FacenetModel


@lru_cache(maxsize=1)
def face_model() -> FacenetModel:
    return FacenetModel()


def one_face(frame: np.ndarray) -> DetectedFace:
    faces = face_model().detect(frame)
    assert len(faces) == 1, f"expected one face, found {len(faces)}"
    return faces[0]


@lru_cache(maxsize=None)
def canvas_photo(name: str) -> np.ndarray:
    """A test photo on a 640 x 480 frame (read-only: copy before changing it)."""
    frame = on_canvas(load_photo(name))
    frame.setflags(write=False)
    return frame
