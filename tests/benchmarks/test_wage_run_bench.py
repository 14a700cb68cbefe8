"""`shiming bench wage-run` end to end at a small size: one JSON line, the run completed."""
from __future__ import annotations

import json

import pytest

from benchmarks import SCENARIOS
from benchmarks.wage_run import main

pytestmark = pytest.mark.slow  # a Temporal dev server and the reference bank as a process

KEYS = {"bench", "workers", "month", "lines", "completed", "paid_lines", "phases_s", "total_s", "history_events",
        "baseline_s", "baseline_lines", "ratio"}
PHASES = {"prefill", "table_import", "signed_sheet", "bank_submit", "bank_and_reconcile"}


def test_wage_run_benchmark_prints_one_json_line(capsys):
    assert SCENARIOS["wage-run"] == "benchmarks.wage_run"
    assert main(["--workers", "20"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    figures = json.loads(out[-1])
    assert KEYS <= figures.keys()
    assert figures["bench"] == "wage-run" and figures["workers"] == 20
    assert figures["completed"] is True
    assert figures["lines"] == figures["paid_lines"] == figures["baseline_lines"] == 20
    assert set(figures["phases_s"]) == PHASES
    assert abs(sum(figures["phases_s"].values()) - figures["total_s"]) < 0.05
    assert figures["history_events"] > 0 and figures["baseline_s"] > 0 and figures["ratio"] > 0
