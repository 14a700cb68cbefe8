"""EnrolmentWorkflow replays its committed histories (recorded by test_enrolment.py and
test_enrolment_timers.py with SHIMING_RECORD_HISTORIES=1): admitted through both updates, a
duplicate continued and one cancelled, reminded by the timer, cancelled by an administrator.
A change that would break enrolments already waiting for their documents fails here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from workflows.enrolment import EnrolmentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("enrolment_*.json"))


def test_enrolment_histories_cover_updates_duplicate_timer_and_cancel():
    assert {p.stem for p in HISTORIES} >= {"enrolment_admitted", "enrolment_duplicate_continued",
                                           "enrolment_duplicate_cancelled", "enrolment_reminded_then_admitted",
                                           "enrolment_admin_cancelled"}
    kinds = {e["eventType"] for path in HISTORIES for e in json.loads(path.read_text())["events"]}
    assert {"EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED", "EVENT_TYPE_TIMER_FIRED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED", "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"} <= kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_enrolment_history_replays(path, tmp_path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    converter = data_converter(make_settings(tmp_path, payload_keys=TEST_PAYLOAD_KEY))
    result = await Replayer(workflows=[EnrolmentWorkflow], data_converter=converter).replay_workflow(history)
    assert result.replay_failure is None
