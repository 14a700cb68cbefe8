"""`shiming bench face` prints one JSON line with every figure (tiny repeats and galleries here)."""
from __future__ import annotations

import json

from shiming.cli import main

FIGURES = {"detect_ms", "template_ms", "detect_template_ms", "liveness_ms", "capture_ms", "match_1k_ms", "match_500_ms",
           "enrolment_through_agent_ms", "terminal_frame_1k_ms", "terminal_frame_1k_cpu_ms", "terminal_install_1k_ms"}


def test_bench_face_prints_one_json_line(capsys):
    """pcscd and vpcd are installed here and in CI (scripts/test), so the enrolment through the
    agent is measured too: a null figure (its reason printed) fails the test. The bench starts its
    own pcscd: run this before tests/devices (path order does), whose session pcscd holds the one
    socket until the session ends."""
    assert main(["bench", "face", "--frames", "1", "--challenges", "1", "--probes", "2",
                 "--gallery-sizes", "1000,500", "--enrolments", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["scenario"] == "face" and figures["liveness_frames"] == 10
    assert figures.get("enrolment_through_agent_reason") is None, figures["enrolment_through_agent_reason"]
    assert FIGURES <= figures.keys() and all(figures[k] > 0 for k in FIGURES)
