"""Recorded registration histories still replay on the current workflow code (no nondeterminism).

The histories are written by `python -m tests.workflows.record_histories`; a change that would
break cases already running in production fails here.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from workflows.registration import ProjectRegistrationWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("registration_*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def event_types(history: WorkflowHistory) -> set[int]:
    return {event.event_type for event in history.events}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays_without_nondeterminism(path, tmp_path):
    history = load(path)
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in event_types(history), \
        f"{path.name} has no update: it would not exercise the update handlers"

    # histories recorded through the platform's payload codec (test stacks' key) or before it, in plain
    converter = data_converter(make_settings(tmp_path, payload_keys=TEST_PAYLOAD_KEY))
    result = await Replayer(workflows=[ProjectRegistrationWorkflow], data_converter=converter).replay_workflow(history)

    assert result.replay_failure is None


def test_recorded_histories_cover_decisions_timers_and_cancellation():
    assert HISTORIES, "no recorded histories: run python -m tests.workflows.record_histories"
    seen = set().union(*(event_types(load(path)) for path in HISTORIES))
    assert {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.EVENT_TYPE_TIMER_FIRED,  # reminder and escalation
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    } <= seen
