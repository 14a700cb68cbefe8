"""A bounded load test on loopback (issue 11): 50 simulated terminals upload at once to a real
`shiming web` process, each also resending a batch, and every punch is stored exactly once.
Bounded in size (1500 punches in 200 requests); no timing is asserted."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from benchmarks.ingest import LoopbackDevice
from domain.models import AttendanceDevice, Punch
from shiming.processes import free_port
from tests.conftest import make_services
from tests.helpers import attendance as att
from tests.helpers.stack import Stack

pytestmark = pytest.mark.slow  # a `shiming web` process

TERMINALS, PER_TERMINAL, BATCH = 50, 30, 10


@pytest.fixture
def web(tmp_path):
    stack = Stack(home=tmp_path, services=make_services(tmp_path), temporal_port=free_port(), ui_port=free_port(),
                  web_port=free_port())  # the device API needs no Temporal: only the web process runs
    try:
        stack.start_web()
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()


def test_fifty_terminals_uploading_at_once_store_every_punch_exactly_once(web):
    services = web.services
    s = att.site(services, workers=10)
    secrets_ = [att.register(services, s, f"LOAD-{i:02d}") for i in range(TERMINALS)]
    start = att.now_local() - timedelta(hours=2)

    def terminal(index: int) -> list[dict]:
        device = LoopbackDevice("127.0.0.1", web.web_port, f"LOAD-{index:02d}", secrets_[index])
        items = [att.item(seq, s.worker_ids[(index + seq) % 10], start + timedelta(seconds=seq))
                 for seq in range(1, PER_TERMINAL + 1)]
        batches = [items[i:i + BATCH] for i in range(0, PER_TERMINAL, BATCH)]
        answers = []
        try:
            for batch in batches + batches[:1]:  # the first batch again: its answer was "lost"
                status, answer = device.post_punches(batch)
                assert status == 200, answer
                answers.append(answer)
        finally:
            device.close()
        return answers

    with ThreadPoolExecutor(max_workers=TERMINALS) as pool:
        answers = [a for result in pool.map(terminal, range(TERMINALS)) for a in result]
    assert sum(a["stored"] for a in answers) == TERMINALS * PER_TERMINAL
    assert sum(a["duplicates"] for a in answers) == TERMINALS * BATCH
    assert not any(a["rejected"] or a["quarantined"] for a in answers)
    with services.Session() as db:
        per_device = dict(db.execute(select(AttendanceDevice.serial, func.count(Punch.id))
                                     .join(Punch, Punch.device_id == AttendanceDevice.id)
                                     .group_by(AttendanceDevice.serial)).all())
        distinct = db.scalar(select(func.count()).select_from(
            select(Punch.device_id, Punch.device_seq).where(Punch.device_id.is_not(None)).distinct().subquery()))
    assert per_device == {f"LOAD-{i:02d}": PER_TERMINAL for i in range(TERMINALS)}
    assert distinct == TERMINALS * PER_TERMINAL
