"""`shiming bench face`: the face path's costs on one 640 x 480 frame, one challenge, and 1:N.

Measured (medians over repeats, milliseconds, after one warm-up call each):
- `detect_ms`: MTCNN on a 640 x 480 frame with one face (obama.jpg on the enrolment canvas);
- `template_ms`: FaceNet template of that face (aligned crop + forward + normalisation);
- `detect_template_ms`: both together per frame, the figure with the <= 100 ms target;
- `liveness_ms`: one left-then-right challenge over its 7 frames (detection on each frame + the
  check), frames generated in memory by benchmarks/face_clips.py; `liveness_frames` says how many;
- `match_10k_ms`, `match_100k_ms` (`--gallery-sizes`): one probe against 10,000 / 100,000 random unit
  512-d templates (one matrix-vector product + argmax; target <= 2 ms at 10,000).
Numpy's BLAS may use both cores; `threads` records what OpenCV was allowed.
Setup (loading the nets, building galleries) is not measured.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone

import cv2
import numpy as np

from benchmarks.face_clips import challenge_frames, canvas_frame
from devices.face_match import FaceGallery
from devices.face_model import FacenetModel
from devices.liveness import check_liveness
from domain.face import Challenge


def median_ms(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 2)


def gallery_of(size: int, rng: np.random.Generator) -> tuple[FaceGallery, np.ndarray]:
    matrix = rng.standard_normal((size, 512), dtype=np.float32)
    gallery = FaceGallery(np.arange(size), matrix, threshold=FacenetModel.match_threshold)
    probe = matrix[size // 3] + 0.5 * rng.standard_normal(512, dtype=np.float32)
    return gallery, probe


def size_key(size: int) -> str:
    return f"match_{size // 1000}k_ms" if size % 1000 == 0 else f"match_{size}_ms"


def run(frames: int, challenges: int, probes: int, sizes: tuple[int, ...] = (10_000, 100_000)) -> dict:
    model = FacenetModel()
    frame = canvas_frame("obama.jpg")
    (face,) = model.detect(frame)
    figures: dict = {"scenario": "face", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                     "model": model.name, "frame": "640x480", "threads": cv2.getNumThreads()}
    figures["detect_ms"] = median_ms(lambda: model.detect(frame), frames)
    figures["template_ms"] = median_ms(lambda: model.template(frame, face), frames)
    figures["detect_template_ms"] = median_ms(lambda: [model.template(frame, f) for f in model.detect(frame)], frames)
    order = (Challenge.TURN_LEFT, Challenge.TURN_RIGHT)
    clip = challenge_frames(frame, face, order)
    figures["liveness_frames"] = len(clip)
    figures["liveness_ms"] = median_ms(lambda: check_liveness(clip, model, order), challenges)
    rng = np.random.default_rng(10)
    for size in sizes:
        gallery, probe = gallery_of(size, rng)
        assert gallery.match(probe).worker_id == size // 3
        figures[size_key(size)] = median_ms(lambda: gallery.match(probe), probes)
        del gallery
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shiming bench face")
    parser.add_argument("--frames", type=int, default=20, help="repeats of detection / template per frame")
    parser.add_argument("--challenges", type=int, default=5, help="repeats of the liveness challenge")
    parser.add_argument("--probes", type=int, default=50, help="repeats of one 1:N match")
    parser.add_argument("--gallery-sizes", default="10000,100000", help="templates per 1:N gallery, comma-separated")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(v) for v in args.gallery_sizes.split(","))
    except ValueError:
        parser.error("gallery sizes must be integers")
    if min(args.frames, args.challenges, args.probes, *sizes) < 1:
        parser.error("repeats and gallery sizes must be positive")
    print(json.dumps(run(args.frames, args.challenges, args.probes, sizes), ensure_ascii=False))
    return 0
