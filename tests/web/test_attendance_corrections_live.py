"""Punch corrections through the pages, the real Temporal dev server and the real worker (tests/web/live.py):
the project account requests one; its own approval is refused by the process and the page says why in
words (zh_CN); another project account refuses it with a reason, which the list shows; a second request
is approved by that account and counts in the month's statistics apart from the punches."""
from __future__ import annotations

from datetime import date

import pytest
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy import select

from domain.models import PunchCorrection
from domain.processes.attendance_correction import CorrectionRefusal, CorrectionStatus
from tests.helpers.services import make_services
from tests.helpers.attendance_site import MONTH, build_site
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.waiting import poll
from tests.helpers.web_app import enter_session
from tests.helpers.live import LiveEngine
from web import create_app
from web.refusals import PUNCH_CORRECTION_REFUSALS, REFUSALS


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    svc = make_services(tmp_path_factory.mktemp("corrections-live"), payload_keys=TEST_PAYLOAD_KEY)
    yield svc
    svc.engine.dispose()


@pytest.fixture(scope="module")
def engine(services):
    live = LiveEngine(services)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def app(services, engine):
    return create_app(services, engine.bridge(), {"TESTING": True, "WTF_CSRF_ENABLED": False})


def _words(app, table, key) -> str:
    with app.test_request_context(), force_locale("zh_CN"):
        return str(escape(str(table[key])))


def _request(client, site, day: str, clock: str, worker: str = "丙"):
    return client.post(f"/attendance/project/{site.project_id}/corrections", data={
        "worker_id": site.workers[worker], "day": day, "direction": "in", "clock": clock, "reason": "闸机断电，未能打卡"},
        follow_redirects=True)


def _correction(services, day: str) -> PunchCorrection:
    with services.Session() as db:
        return db.scalar(select(PunchCorrection).where(PunchCorrection.day == date.fromisoformat(day)))


def _task_open(engine, correction_id):
    """The process holds its inbox row's id: it waits for a decision (the row itself is committed by
    the activity a moment before the process learns its id)."""
    from workflows.attendance_correction import AttendanceCorrectionWorkflow

    view = engine.run(lambda c: c.get_workflow_handle(f"punch-correction-{correction_id}").query(
        AttendanceCorrectionWorkflow.status))
    return view.task_id


def test_correction_requested_refused_in_words_then_approved_by_another(app, services, engine):
    site = build_site(services)
    client = app.test_client()
    enter_session(client, services, "project")
    page = _request(client, site, "2026-10-20", "08:00").get_data(as_text=True)
    first = _correction(services, "2026-10-20")
    assert first is not None and first.status == CorrectionStatus.PENDING and first.requested_by == site.requester_id
    poll(lambda: _task_open(engine, first.id), "the approval's inbox row")

    # the requester approves their own: the process refuses, the page says why (not the generic words)
    page = client.post(f"/attendance/correction/{first.id}/approve", data={}, follow_redirects=True).get_data(as_text=True)
    assert _words(app, PUNCH_CORRECTION_REFUSALS, CorrectionRefusal.OWN_REQUEST) in page
    assert _words(app, REFUSALS, "Refused") not in page
    assert _correction(services, "2026-10-20").status == CorrectionStatus.PENDING

    # another project account refuses it with a reason; the list shows it
    other = app.test_client()
    enter_session(other, services, "project2")
    page = other.post(f"/attendance/correction/{first.id}/refuse", data={"reason": "当天未进场"},
                      follow_redirects=True).get_data(as_text=True)
    assert _correction(services, "2026-10-20").status == CorrectionStatus.REFUSED
    row = page[page.index(f'data-correction-id="{first.id}"'):]
    assert "当天未进场" in row[:row.index("</tr>")] and 'data-status="refused"' in row[:200]

    # a second request, approved by the other account, counts apart in the month's statistics
    _request(client, site, "2026-10-21", "08:00")
    second = _correction(services, "2026-10-21")
    poll(lambda: _task_open(engine, second.id), "the approval's inbox row")
    other.post(f"/attendance/correction/{second.id}/approve", data={}, follow_redirects=True)
    assert _correction(services, "2026-10-21").status == CorrectionStatus.APPROVED
    stats = client.get(f"/attendance/project/{site.project_id}/statistics?month={MONTH}").get_data(as_text=True)
    row = stats[stats.index('data-name="丙"'):]
    row = row[:row.index("</tr>")]
    assert '<td class="days">2</td>' in row and '<td class="corrections">1</td>' in row
    assert '<td class="corrected-days">1</td>' in row and '<td class="punches">2</td>' in row
