"""The watermarked punch photo (水印照片, ATT-4): the frame a terminal punched on, with who, where and when.

`watermark(frame, stamp)` writes the stamp's lines (ASCII: OpenCV's Hershey fonts have no Chinese
glyphs) on a dark band across the bottom of a copy of the frame, and returns it as JPEG bytes;
the terminal sends those bytes and their sha256 (`photo_sha256`) with the punch, and the platform
records the hash, so a photo altered afterwards no longer matches it. The band covers the
bottom of the picture, not the face; the original frame is left as it is. A frame wider than
1280 px is scaled down to that width first, so a photo stays well under the API's 512 KiB.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np

from domain.calendar import LOCAL_TZ

FONT = cv2.FONT_HERSHEY_SIMPLEX
JPEG_QUALITY = 85
MAX_WIDTH = 1280                        # a 4K stream's frame is scaled down: the platform takes photos up to 512 KiB


@dataclass(frozen=True)
class Stamp:
    time: datetime                      # aware; written in the site's local time with its offset
    project_code: str
    serial: str
    worker_id: int
    direction: str

    def lines(self) -> list[str]:
        local = self.time.astimezone(LOCAL_TZ)
        return [f"{local:%Y-%m-%d %H:%M:%S} UTC{local:%z}  {self.direction.upper()}",
                f"project {self.project_code}  device {self.serial}  worker {self.worker_id}"]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def watermark(frame: np.ndarray, stamp: Stamp, quality: int = JPEG_QUALITY) -> bytes:
    height, width = frame.shape[:2]
    if width > MAX_WIDTH:
        height, width = round(height * MAX_WIDTH / width), MAX_WIDTH
        image = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    else:
        image = frame.copy()
    lines = [_ascii(line) for line in stamp.lines()]
    scale = max(0.4, width / 1100)
    thickness = max(1, round(scale * 2))
    line_height = int(cv2.getTextSize("Ag", FONT, scale, thickness)[0][1] * 1.9)
    band = line_height * len(lines) + line_height // 2
    top = max(0, height - band)
    image[top:] = (image[top:] * 0.35).astype(np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(image, line, (8, top + line_height * (i + 1)), FONT, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the frame cannot be encoded as JPEG")
    return jpeg.tobytes()


def photo_sha256(photo: bytes) -> str:
    return hashlib.sha256(photo).hexdigest()
