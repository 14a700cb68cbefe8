"""WageAccountBindingWorkflow replays its committed histories (recorded by test_account_binding.py with
SHIMING_RECORD_HISTORIES=1): bound through the updates, refused by the bank, expired by the timer.
A change that would break bindings already waiting for their agreement fails here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from workflows.account_binding import WageAccountBindingWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("account_binding_*.json"))


def test_account_binding_histories_cover_updates_refusal_and_expiry():
    assert {p.stem for p in HISTORIES} >= {"account_binding_bound", "account_binding_refused",
                                           "account_binding_expired"}
    kinds = {e["eventType"] for path in HISTORIES for e in json.loads(path.read_text())["events"]}
    assert {"EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED", "EVENT_TYPE_TIMER_FIRED",
            "EVENT_TYPE_TIMER_CANCELED", "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"} <= kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_account_binding_history_replays(path, tmp_path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    # histories recorded through the platform's payload codec (test stacks' key) or before it, in plain
    converter = data_converter(make_settings(tmp_path, payload_keys=TEST_PAYLOAD_KEY))
    result = await Replayer(workflows=[WageAccountBindingWorkflow], data_converter=converter).replay_workflow(history)
    assert result.replay_failure is None
