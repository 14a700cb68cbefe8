"""workflows/guards.py: one refusal helper and one busy flag for every workflow's updates."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from workflows.guards import Busy

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_busy_is_set_inside_the_block_and_cleared_however_it_ends():
    busy = Busy()
    assert not busy
    with busy:
        assert busy
    assert not busy
    with pytest.raises(RuntimeError):
        with busy:
            raise RuntimeError("the activity failed")
    assert not busy


def test_busy_stays_set_until_the_last_of_overlapping_blocks_ends():
    # the enrolment's contract scan and training may be under way at once
    busy = Busy()
    with busy:
        with busy:
            assert busy
        assert busy
    assert not busy


@pytest.mark.parametrize("name", ["registration", "worker_exit", "account_binding", "wage_run", "enrolment"])
def test_workflows_share_the_refusal_and_busy_helpers(name):
    source = (WORKFLOWS / f"{name}.py").read_text(encoding="utf-8")
    assert "def _refuse(" not in source and "ApplicationError(message" not in source
    # the flag is only ever entered as a context manager: assigned once, in __init__
    assert source.count("self._busy = Busy()") == (1 if "_busy" in source else 0)
    assert not re.search(r"self\._busy[\w, .]*=(?!=)", source.replace("self._busy = Busy()", ""))
