"""`shiming bench face`: the face path's costs on one 640 x 480 frame, one challenge, and 1:N.

Measured (medians over repeats, milliseconds, after one warm-up call each):
- `detect_ms`: MTCNN on a 640 x 480 frame with one face (obama.jpg on the enrolment canvas);
- `template_ms`: FaceNet template of that face (aligned crop + forward + normalisation);
- `detect_template_ms`: both together per frame, the figure with the <= 100 ms target;
- `liveness_ms`: one three-movement challenge (left, up, right) over its 10 frames (detection on
  each frame + the check), frames generated in memory by benchmarks/face_clips.py; `liveness_frames` says how many;
- `capture_ms`: the enrolment's whole live capture over the same frames (liveness, quality check,
  the frontal template and one per turn for the same-person check: devices/face_capture.py);
- `match_10k_ms`, `match_100k_ms` (`--gallery-sizes`): one probe against 10,000 / 100,000 random unit
  512-d templates (one matrix-vector product + argmax; target <= 2 ms at 10,000);
- `terminal_frame_10k_ms` (the first gallery size): one frame through `shiming terminal`'s identification
  (detection, quality check, template, 1:N against that many templates with the worker among them;
  benchmarks/face_terminal.py), `--frames` repeats; `terminal_install_10k_ms`: installing that gallery
  from a template sync's bytes (one measurement);
- `enrolment_through_agent_ms` (`--enrolments` repeats): one worker's enrolment end to end through the
  device agent on loopback: its ID card read from a virtual card in a private pcscd + vpcd, its live
  face captured for a freshly drawn challenge from a video-file camera, and the platform's
  `start_enrolment` into a throw-away SQLite database -- starting the Temporal workflow is not
  included (benchmarks/face_enrolment.py). Wall time only. When pcscd / vpcd are missing (or another
  pcscd holds the socket past `--pcscd-wait`), it is null and `enrolment_through_agent_reason` says why.
Each `*_ms` has a `*_cpu_ms` twin: the median process CPU time of the same calls, the work done
whatever else runs on the machine (wall time on a shared machine includes waiting for a core;
`load_1m` is the load average when the run began). `threads` records OpenCV's thread count; the
1:N product runs on one BLAS thread (devices/face_match.py).
Setup (loading the nets, building galleries) is not measured.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone
from functools import partial

import cv2
import numpy as np

from benchmarks import face_enrolment, face_terminal
from benchmarks.face_clips import canvas_frame, challenge_frames
from devices.face_capture import capture_live_face
from devices.face_match import FaceGallery
from devices.face_model import FacenetModel
from devices.liveness import check_liveness
from domain.face import Challenge


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and median process CPU milliseconds of `fn` (after one warm-up call)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return round(statistics.median(wall), 2), round(statistics.median(cpu), 2)


def record(figures: dict, key: str, fn, repeats: int) -> None:
    figures[f"{key}_ms"], figures[f"{key}_cpu_ms"] = timed(fn, repeats)


def gallery_of(size: int, rng: np.random.Generator) -> tuple[FaceGallery, np.ndarray]:
    matrix = rng.standard_normal((size, 512), dtype=np.float32)
    gallery = FaceGallery(np.arange(size), matrix, threshold=FacenetModel.match_threshold)
    probe = matrix[size // 3] + 0.5 * rng.standard_normal(512, dtype=np.float32)
    return gallery, probe


def size_key(size: int) -> str:
    return f"match_{size // 1000}k" if size % 1000 == 0 else f"match_{size}"


def run(frames: int, challenges: int, probes: int, sizes: tuple[int, ...] = (10_000, 100_000),
        enrolments: int = 3, pcscd_wait: float = 60) -> dict:
    model = FacenetModel()
    frame = canvas_frame("obama.jpg")
    (face,) = model.detect(frame)
    figures: dict = {"scenario": "face", "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                     "model": model.name, "frame": "640x480", "threads": cv2.getNumThreads(),
                     "load_1m": round(os.getloadavg()[0], 2)}
    record(figures, "detect", lambda: model.detect(frame), frames)
    record(figures, "template", lambda: model.template(frame, face), frames)
    record(figures, "detect_template", lambda: [model.template(frame, f) for f in model.detect(frame)], frames)
    order = (Challenge.TURN_LEFT, Challenge.LOOK_UP, Challenge.TURN_RIGHT)   # as long as new_challenge's
    clip = challenge_frames(frame, face, order)
    figures["liveness_frames"] = len(clip)
    record(figures, "liveness", lambda: check_liveness(clip, model, order), challenges)
    record(figures, "capture", lambda: capture_live_face(clip, model, order), challenges)
    rng = np.random.default_rng(10)
    for size in sizes:
        gallery, probe = gallery_of(size, rng)
        assert gallery.match(probe).worker_id == size // 3
        record(figures, size_key(size), partial(gallery.match, probe), probes)
    figures.update(face_terminal.measure(model, frame, face, sizes[0], frames, timed))
    if enrolments:
        enrolment = face_enrolment.measure(lambda: model, frame, face, enrolments, pcscd_wait)
        figures["enrolment_through_agent_ms"] = enrolment.median_ms
        if enrolment.reason:
            figures["enrolment_through_agent_reason"] = enrolment.reason
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shiming bench face")
    parser.add_argument("--frames", type=int, default=20, help="repeats of detection / template per frame")
    parser.add_argument("--challenges", type=int, default=5, help="repeats of the liveness challenge")
    parser.add_argument("--probes", type=int, default=50, help="repeats of one 1:N match")
    parser.add_argument("--enrolments", type=int, default=3,
                        help="repeats of one enrolment through the device agent (0: not measured)")
    parser.add_argument("--pcscd-wait", type=float, default=60,
                        help="seconds to wait for another pcscd to go away before reporting the enrolment as null")
    parser.add_argument("--threads", type=int, help="OpenCV threads (cv2.setNumThreads); default: OpenCV's choice")
    parser.add_argument("--gallery-sizes", default="10000,100000", help="templates per 1:N gallery, comma-separated")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(v) for v in args.gallery_sizes.split(","))
    except ValueError:
        parser.error("gallery sizes must be integers")
    if min(args.frames, args.challenges, args.probes, *sizes) < 1:
        parser.error("repeats and gallery sizes must be positive")
    if args.enrolments < 0 or args.pcscd_wait < 0:
        parser.error("enrolment repeats and the pcscd wait must not be negative")
    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    print(json.dumps(run(args.frames, args.challenges, args.probes, sizes, args.enrolments, args.pcscd_wait),
                     ensure_ascii=False))
    return 0
