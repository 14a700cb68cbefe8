"""Frames from a camera, a video file or a network stream, through one `FrameSource` (ENR-3).

`FrameSource.open(spec)` takes what the operator configures:
- a camera index: `0`, `"0"` (the enrolment PC's USB camera; asked for 640 x 480);
- a stream URL: `rtsp://…`, `rtsp://user:pass@host/…`, `http://…` (a gate camera; FFmpeg backend);
- a video file path (tests, demos, and the end-to-end browser test that uses a file as the camera).

A source that cannot be opened is refused with `CAMERA_UNAVAILABLE` (never with the URL's password
in the message); `frames()` yields BGR frames until the source ends or a limit is reached.
Reading blocks: the agent runs it on a worker thread.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Union
from urllib.parse import urlsplit

import cv2
import numpy as np

from domain.face import FaceRefusal, FaceRefused

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")


def describe(spec: Union[int, str]) -> str:
    """The source as it may be shown or logged: a URL without its credentials."""
    if isinstance(spec, int) or str(spec).isdigit():
        return f"camera {spec}"
    parts = urlsplit(str(spec))
    if parts.scheme in STREAM_SCHEMES:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
    return f"video file {Path(spec).name}"


class FrameSource:
    def __init__(self, capture: "cv2.VideoCapture", label: str):
        self._capture = capture
        self.label = label

    @classmethod
    def open(cls, spec: Union[int, str], width: int = 640, height: int = 480) -> "FrameSource":
        label = describe(spec)
        if isinstance(spec, int) or str(spec).isdigit():
            capture = cv2.VideoCapture(int(spec))
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        elif urlsplit(str(spec)).scheme in STREAM_SCHEMES:
            capture = cv2.VideoCapture(str(spec), cv2.CAP_FFMPEG)
        else:
            if not Path(spec).is_file():
                raise FaceRefused(FaceRefusal.CAMERA_UNAVAILABLE, f"{label} does not exist")
            capture = cv2.VideoCapture(str(spec))
        if not capture.isOpened():
            capture.release()
            raise FaceRefused(FaceRefusal.CAMERA_UNAVAILABLE, f"{label} cannot be opened")
        return cls(capture, label)

    def read(self) -> Optional[np.ndarray]:
        ok, frame = self._capture.read()
        return frame if ok and frame is not None else None

    def frames(self, limit: Optional[int] = None) -> Iterator[np.ndarray]:
        count = 0
        while limit is None or count < limit:
            frame = self.read()
            if frame is None:
                return
            count += 1
            yield frame

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
