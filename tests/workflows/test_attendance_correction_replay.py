"""AttendanceCorrectionWorkflow replays its committed histories (recorded by test_attendance_correction.py
with SHIMING_RECORD_HISTORIES=1): approved after the requester's and a non-approver's refused decisions,
and refused with a reason after two refused updates; a change that would break waiting corrections fails here."""
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
from workflows.attendance_correction import AttendanceCorrectionWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("attendance_correction_*.json"))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_correction_histories_cover_both_decisions_and_refused_updates():
    assert {p.stem for p in HISTORIES} >= {"attendance_correction_approved_after_refusals",
                                           "attendance_correction_refused", "attendance_correction_cancelled"}
    kinds = {e.event_type for path in HISTORIES for e in _load(path).events}
    assert {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED} <= kinds
    assert all('"binary/encrypted"' in p.read_text() or "YmluYXJ5L2VuY3J5cHRlZA==" in p.read_text() for p in HISTORIES)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_correction_history_replays(path, tmp_path):
    converter = data_converter(make_settings(tmp_path, payload_keys=TEST_PAYLOAD_KEY))
    replayer = Replayer(workflows=[AttendanceCorrectionWorkflow], data_converter=converter)
    result = asyncio.run(replayer.replay_workflow(_load(path)))
    assert result.replay_failure is None
