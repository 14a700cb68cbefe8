"""The benchmark's bare workflow replays its committed history without nondeterminism."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from benchmarks.bare import BareCaseWorkflow

HISTORY = Path(__file__).parent / "histories" / "bare_case.json"


def test_bare_case_history_replays():
    text = HISTORY.read_text()
    events = json.loads(text)["events"]
    assert any(e["eventType"] in ("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "WorkflowExecutionUpdateAccepted")
               for e in events)
    history = WorkflowHistory.from_json("bare-case-history", text)
    result = asyncio.run(Replayer(workflows=[BareCaseWorkflow]).replay_workflow(history))
    assert result.replay_failure is None
