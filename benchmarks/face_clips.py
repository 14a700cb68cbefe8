"""Synthetic camera input from the test photos, for `shiming bench face` and tests/devices/test_face_*.

- `on_canvas(photo)`: a photo placed on a 640 x 480 grey frame, as an enrolment camera sees it.
- `simulated_turn(frame, face, amount, vertical)`: a head turn (or nod) faked from a flat photo.
  Moving or rotating a flat picture does not change the landmark yaw or pitch (that is the point
  of devices/liveness.py), so the middle of the face is displaced sideways (or up and down), most
  at the nose and falling off towards the eyes and the outline — what a real turn does to a face
  with depth. `amount` > 0 moves the nose to the picture's right (the worker turns to their own
  left in an unmirrored picture), or down (the worker looks down); `simulated_move` picks these
  for a `Challenge`.
- `challenge_frames(...)`: frontal, each movement in the given order held for `hold` frames then
  frontal again, a pixel of jitter per frame; `still_frames(...)`: the same photo moved and rotated, never turned (a printed
  photo held up); `write_clip(...)`: frames to an MJPG .avi (OpenCV's own writer, no codec needed).

The photos come from the face_recognition and insightface source packages (tests/devices/faces/README.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from devices.face_model import DetectedFace
from domain.face import Challenge

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "devices" / "faces"
FRAME_SIZE = (640, 480)
TURN_AMOUNT = 0.3


def load_photo(name: str) -> np.ndarray:
    path = PHOTOS / name
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"test photo {path} is missing (it ships in the source tree, not the wheel)")
    return image


def on_canvas(photo: np.ndarray, size: tuple[int, int] = FRAME_SIZE, scale: float = 1.0,
              offset: tuple[int, int] = (0, 0), background: int = 128) -> np.ndarray:
    width, height = size
    canvas = np.full((height, width, 3), background, np.uint8)
    fit = min(height / photo.shape[0], width / photo.shape[1]) * scale
    image = cv2.resize(photo, None, fx=fit, fy=fit, interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR)
    h, w = image.shape[:2]
    y0, x0 = (height - h) // 2 + offset[1], (width - w) // 2 + offset[0]
    ys, xs = slice(max(y0, 0), min(y0 + h, height)), slice(max(x0, 0), min(x0 + w, width))
    canvas[ys, xs] = image[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    return canvas


def canvas_frame(name: str) -> np.ndarray:
    return on_canvas(load_photo(name))


def simulated_turn(frame: np.ndarray, face: DetectedFace, amount: float, vertical: bool = False) -> np.ndarray:
    height, width = frame.shape[:2]
    nose_x, nose_y = (float(v) for v in face.landmarks[2])
    face_width = float(face.box[2])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    spread = face_width * 0.28
    across, along = (1.3, 1.0) if vertical else (1.0, 1.3)
    weight = np.exp(-(((xs - nose_x) / (spread * across)) ** 2 + ((ys - nose_y) / (spread * along)) ** 2))
    shift = (amount * face_width * weight).astype(np.float32)
    map_x, map_y = (xs, ys - shift) if vertical else (xs - shift, ys)
    return cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def simulated_move(frame: np.ndarray, face: DetectedFace, move: Challenge, amount: float = TURN_AMOUNT) -> np.ndarray:
    if move in (Challenge.TURN_LEFT, Challenge.TURN_RIGHT):
        return simulated_turn(frame, face, amount if move == Challenge.TURN_LEFT else -amount)
    return simulated_turn(frame, face, amount if move == Challenge.LOOK_DOWN else -amount, vertical=True)


def _jitter(frame: np.ndarray, step: int) -> np.ndarray:
    shift = np.float32([[1, 0, step % 3 - 1], [0, 1, (step // 3) % 2]])
    return cv2.warpAffine(frame, shift, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def challenge_frames(frame: np.ndarray, face: DetectedFace, order: Sequence[Challenge],
                     hold: int = 2, amount: float = TURN_AMOUNT) -> list[np.ndarray]:
    moves: list[Challenge | None] = [None]
    for move in order:
        moves += [move] * hold + [None]
    return [_jitter(frame if move is None else simulated_move(frame, face, move, amount), i)
            for i, move in enumerate(moves)]


def still_frames(photo: np.ndarray, count: int = 6) -> list[np.ndarray]:
    """A flat photo held in front of the camera and moved about: shifted, tilted, nearer, further."""
    frames = []
    for i in range(count):
        frame = on_canvas(photo, scale=1.0 - 0.04 * (i % 3), offset=(12 * (i - count // 2), 4 * (i % 2)))
        tilt = cv2.getRotationMatrix2D((FRAME_SIZE[0] / 2, FRAME_SIZE[1] / 2), 4.0 * (i % 3 - 1), 1.0)
        frames.append(cv2.warpAffine(frame, tilt, FRAME_SIZE, borderValue=(128, 128, 128)))
    return frames


def write_clip(path: Path, frames: Sequence[np.ndarray], fps: float = 10.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path
