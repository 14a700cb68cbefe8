"""WageRunWorkflow replays its committed histories (recorded by tests/e2e/test_wage_run_processes.py
with SHIMING_RECORD_HISTORIES=1), so a change that would break running wage runs fails here."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from workflows.wage_run import WageRunWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("wage_run_*.json"))


def test_wage_run_histories_exist_and_cover_updates_and_signals():
    assert HISTORIES
    kinds = {e["eventType"] for path in HISTORIES for e in json.loads(path.read_text())["events"]}
    assert {"EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED", "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"} <= kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_wage_run_history_replays(path, tmp_path):
    # recorded on a test stack: payloads are encrypted with the test stacks' payload key
    converter = data_converter(make_settings(tmp_path, payload_keys=TEST_PAYLOAD_KEY))
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    asyncio.run(Replayer(workflows=[WageRunWorkflow], data_converter=converter).replay_workflow(history))
