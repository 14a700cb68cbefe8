"""WorkerExitWorkflow replays its committed histories (recorded by test_worker_exit.py and
test_worker_exit_timers.py with SHIMING_RECORD_HISTORIES=1), so a change that would break
exits already waiting in production fails here."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from workflows.worker_exit import WorkerExitWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("worker_exit_*.json"))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_worker_exit_histories_cover_signals_updates_timers_and_both_endings():
    assert {p.stem for p in HISTORIES} >= {"worker_exit_blocked_then_paid", "worker_exit_cancelled",
                                           "worker_exit_reminded_then_paid", "worker_exit_admin_cancelled",
                                           "worker_exit_continued_as_new"}
    kinds = {e.event_type for path in HISTORIES for e in _load(path).events}
    texts = [path.read_text() for path in HISTORIES]
    assert all('"binary/encrypted"' in t or "YmluYXJ5L2VuY3J5cHRlZA==" in t for t in texts)  # payloads encrypted
    assert {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
            EventType.EVENT_TYPE_TIMER_FIRED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW} <= kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_worker_exit_history_replays(path, tmp_path):
    # recorded with the platform's payload codec under the test stacks' key
    converter = data_converter(make_settings(tmp_path, payload_keys=TEST_PAYLOAD_KEY))
    replayer = Replayer(workflows=[WorkerExitWorkflow], data_converter=converter)
    result = asyncio.run(replayer.replay_workflow(_load(path)))
    assert result.replay_failure is None
