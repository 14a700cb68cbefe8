"""Opening a wage run (domain.wage_run.open_run): which months can be paid (issue 8 point 3)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from domain.calendar import local_today
from domain.models import Account, AuditLog, Project, WageAccount, WageRun
from domain.wage_run import WageRunError, open_run


@pytest.fixture
def project_id(services):
    with services.Session.begin() as db:
        project_id = db.scalar(select(Project.id).order_by(Project.id).limit(1))
        db.add(WageAccount(project_id=project_id, bank_code="REFBANK", account_number_enc="x", account_number_hash="x",
                           account_last4="0000", account_name="工资专户", status="bound"))
    return project_id


def _open(services, project_id, month, today=None) -> WageRun:
    with services.Session.begin() as db:
        run = open_run(db, project_id, month, db.scalar(select(Account).where(Account.username == "project")),
                       today=today)
        db.expunge(run)
        return run


def _runs(services) -> tuple[int, int]:
    with services.Session() as db:
        return (db.scalar(select(func.count()).select_from(WageRun)),
                db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "wage_run.open")))


@pytest.mark.parametrize("month", ["2026-12", "2027-01", "2027-06"])
def test_a_month_later_than_the_current_one_is_refused_and_nothing_is_written(services, project_id, month):
    before = _runs(services)
    with pytest.raises(WageRunError) as refused:
        _open(services, project_id, month, today=date(2026, 11, 30))
    assert refused.value.code == "future_month"
    assert _runs(services) == before


@pytest.mark.parametrize("month", ["2026-11", "2026-10", "2025-12"])
def test_the_current_month_and_earlier_ones_can_be_opened(services, project_id, month):
    run = _open(services, project_id, month, today=date(2026, 11, 1))
    assert run.month == month


def test_the_current_month_is_the_month_in_china_standard_time():
    # 2026-11-30 16:30 UTC is already 1 December in Beijing: December may be opened then
    assert local_today(datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc)) == date(2026, 12, 1)
    assert local_today(datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc)) == date(2026, 11, 30)


def test_without_a_date_the_clock_decides(services, project_id):
    today = local_today()
    following = f"{today.year + today.month // 12:04d}-{today.month % 12 + 1:02d}"
    with pytest.raises(WageRunError) as refused:
        _open(services, project_id, following)
    assert refused.value.code == "future_month"
    assert _open(services, project_id, f"{today.year:04d}-{today.month:02d}").status == "open"


def test_a_malformed_month_is_still_bad_month(services, project_id):
    with pytest.raises(WageRunError) as refused:
        _open(services, project_id, "2027-13", today=date(2026, 11, 1))
    assert refused.value.code == "bad_month"
