"""`shiming bench NAME`: scenarios that print one JSON line of figures each."""
from __future__ import annotations

import importlib
import sys

SCENARIOS = {"face": "benchmarks.face", "ingest": "benchmarks.ingest", "registration": "benchmarks.registration", "wage-run": "benchmarks.wage_run"}


def run_benchmark(name: str, args: list[str]) -> int:
    if name not in SCENARIOS:
        print(f"unknown benchmark {name!r}; known: {', '.join(sorted(SCENARIOS))}", file=sys.stderr)
        return 2
    return importlib.import_module(SCENARIOS[name]).main(args)
