"""`terminal_frame_10k_ms` of `shiming bench face`: one camera frame through the terminal's identification.

What `shiming terminal` does per frame (devices/terminal.py `Terminal.identify`): MTCNN detection,
the quality check of the largest face, its FaceNet template, and the 1:N match against the
project's gallery, here 10,000 templates (`size`) as a template sync installs them
(`Terminal.gallery_of`: little-endian float32 bytes → one normalised matrix), the worker on the
frame among them. Set up once, not measured: the gallery (its install time is reported apart,
`terminal_install_10k_ms`, one measurement). The punch itself (watermark, queue row) is not in the
figure.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from devices.face_model import FaceModel, template_to_bytes
from devices.terminal import Terminal, TerminalConfig, TerminalRole
from devices.terminal_client import PlatformClient
from devices.terminal_queue import PunchQueue
from domain.device_templates import Gallery


def measure(model: FaceModel, frame: np.ndarray, face, size: int, repeats: int, timed) -> dict:
    rng = np.random.default_rng(11)
    templates = [(i + 1, template_to_bytes(v)) for i, v in enumerate(rng.standard_normal((size - 1, model.dimension),
                                                                                          dtype=np.float32))]
    templates.insert(size // 2, (size + 1, template_to_bytes(model.template(frame, face))))
    key = f"{size // 1000}k" if size % 1000 == 0 else str(size)
    with tempfile.TemporaryDirectory(prefix="shiming-bench-terminal-") as tmp:
        queue = PunchQueue(Path(tmp) / "queue.db")
        try:
            terminal = Terminal(TerminalConfig("BENCH-01", TerminalRole.IN), model, queue,
                                PlatformClient("http://127.0.0.1:9", "BENCH-01", "00" * 32))
            start = time.perf_counter()
            terminal.gallery = Terminal.gallery_of(Gallery(1, "BENCH", templates, [], ""), model)
            install_ms = round((time.perf_counter() - start) * 1000, 2)
            found = terminal.identify(frame)
            assert found is not None and found.worker_id == size + 1, found
            wall, cpu = timed(lambda: terminal.identify(frame), repeats)
        finally:
            queue.close()
    return {f"terminal_frame_{key}_ms": wall, f"terminal_frame_{key}_cpu_ms": cpu,
            f"terminal_install_{key}_ms": install_ms}
