"""`shiming bench ingest` end to end at a small size: one JSON line, every punch stored through the
API, the raw baseline run in the same process, a ratio."""
from __future__ import annotations

import json

import pytest

from benchmarks import SCENARIOS
from benchmarks.ingest import main

pytestmark = pytest.mark.slow  # a `shiming web` process

KEYS = {"bench", "punches", "batch", "terminals", "workers", "rounds", "database", "requests", "stored", "rejected",
        "rows_in_db", "api_punches_per_s", "raw_punches_per_s", "api_rounds", "raw_rounds", "ratio"}


def test_ingest_benchmark_prints_one_json_line(capsys):
    assert SCENARIOS["ingest"] == "benchmarks.ingest"
    assert main(["--punches", "300", "--batch", "50", "--terminals", "3", "--workers", "5", "--rounds", "2"]) == 0
    out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    figures = json.loads(out[-1])
    assert KEYS <= figures.keys() and figures["bench"] == "ingest" and figures["database"] == "sqlite"
    assert figures["punches"] == 300 and figures["stored"] == figures["rows_in_db"] == 600  # two rounds
    assert figures["rejected"] == 0 and figures["requests"] == 12
    assert len(figures["api_rounds"]) == len(figures["raw_rounds"]) == 2
    assert figures["api_punches_per_s"] > 0 and figures["raw_punches_per_s"] > 0 and figures["ratio"] > 0
