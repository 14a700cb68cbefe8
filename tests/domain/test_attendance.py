"""The monthly attendance summary: local calendar days and first-to-last hours per worker."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import func, select

from domain import attendance
from domain import registration as reg
from domain import workforce as wf
from domain.attendance import AttendanceRow, month_bounds, monthly_summary
from domain.models import BankCard, CompanyKind, Project, ProjectWorker, Punch, RegistrationApplication, Worker
from domain.rules import id_number_check_char, is_valid_card_number, is_valid_id_number
from shiming.seed import demo_credit_code
from shiming.seed_workforce import seed_workforce
from tests.helpers.factories import create_application

_keys = count()


def add_worker(session, cipher, project_id: int, name: str, body17: str, enrol: bool = True) -> int:
    worker = wf.upsert_worker(session, cipher, name=name, id_number=body17 + id_number_check_char(body17))
    if enrol:
        company = wf.ensure_company(session, project_id, "劳务公司", demo_credit_code("91450100MA5LW0009"),
                                    CompanyKind.LABOUR_COMPANY)
        team = wf.ensure_team(session, project_id, company.id, "钢筋班组")
        wf.enrol(session, project_id=project_id, worker=worker, team=team, company=company, trade="020",
                 daily_rate_fen=30000, entry_date=date(2026, 9, 1))
    return worker.id


def punch(session, project_id: int, worker_id: int, utc: str) -> None:
    session.add(Punch(dedupe_key=f"test-{next(_keys)}", project_id=project_id, worker_id=worker_id,
                      direction="in", punched_at=datetime.fromisoformat(utc), device_code="test"))


@pytest.fixture
def site(any_db_services):
    return build_site(any_db_services)


@pytest.fixture
def sqlite_site(services):
    return build_site(services)


def build_site(svc):
    """Two projects; workers A and D on the first, A also on the second, C punching but not enrolled."""
    app_id, _number, _wf = create_application(svc)
    with svc.Session.begin() as session:
        project_id = session.scalar(select(Project.id).order_by(Project.id))
        other_id = reg.approve(session, svc.cipher, session.get(RegistrationApplication, app_id))[0].id
        a = add_worker(session, svc.cipher, project_id, "甲", "45010319800101123")
        b = add_worker(session, svc.cipher, project_id, "乙", "45010319800101124")
        c = add_worker(session, svc.cipher, project_id, "丙", "45010319800101125", enrol=False)
        d = add_worker(session, svc.cipher, project_id, "丁", "45010319800101126")
        add_worker(session, svc.cipher, other_id, "甲", "45010319800101123")
        session.flush()
        # A, in naive UTC; local time (UTC+8) in the comments
        for utc in (
            "2026-09-30 15:59:00",  # 09-30 23:59: September
            "2026-09-30 16:30:00",  # 10-01 00:30: a day of its own, one punch, no hours
            "2026-10-08 23:30:00",  # 10-09 07:30  first punch of the 9th
            "2026-10-09 04:00:00",  # 10-09 12:00
            "2026-10-09 05:00:00",  # 10-09 13:00
            "2026-10-09 09:45:00",  # 10-09 17:45  last: 10 h 15 min
            "2026-10-12 16:30:00",  # 10-13 00:30  the 13th, though the 12th in UTC
            "2026-10-13 01:00:00",  # 10-13 09:00  8 h 30 min
            "2026-10-31 15:59:59",  # 10-31 23:59:59: one punch
            "2026-10-31 16:30:00",  # 11-01 00:30: November
        ):
            punch(session, project_id, a, utc)
        punch(session, other_id, a, "2026-10-20 00:00:00")  # on the other project: 10 h there
        punch(session, other_id, a, "2026-10-20 10:00:00")
        punch(session, project_id, b, "2026-09-15 00:00:00")  # B: September only
        punch(session, project_id, b, "2026-11-02 00:00:00")
        punch(session, project_id, c, "2026-10-15 00:00:00")  # C: not on the project
        punch(session, project_id, c, "2026-10-15 09:00:00")
        punch(session, project_id, d, "2026-10-15 00:00:00")  # D: 8 h 20 min 30 s
        punch(session, project_id, d, "2026-10-15 08:20:30")
    return svc, project_id, other_id, {"A": a, "B": b, "C": c, "D": d}


def test_days_are_local_calendar_days_and_hours_run_from_first_to_last_punch(site):
    svc, project_id, _other, w = site
    with svc.Session() as session:
        rows = monthly_summary(session, project_id, "2026-10")
    # A: Oct 1, 9, 13 and 31; 10.25 h + 8.5 h = 18.75 h, rounded half up to 18.8.
    # D: 30030 s = 8.34 h -> 8.3.
    assert rows == [AttendanceRow(w["A"], "甲", 4, 188), AttendanceRow(w["D"], "丁", 1, 83)]


def test_each_project_counts_only_its_own_punches(sqlite_site):
    svc, _project_id, other_id, w = sqlite_site
    with svc.Session() as session:
        assert monthly_summary(session, other_id, "2026-10") == [AttendanceRow(w["A"], "甲", 1, 100)]
        assert monthly_summary(session, other_id, "2026-09") == []


def test_the_neighbouring_months_get_the_punches_across_midnight(site):
    svc, project_id, _other, w = site
    with svc.Session() as session:
        september = monthly_summary(session, project_id, "2026-09")
        november = monthly_summary(session, project_id, "2026-11")
    assert september == [AttendanceRow(w["A"], "甲", 1, 0), AttendanceRow(w["B"], "乙", 1, 0)]
    assert november == [AttendanceRow(w["A"], "甲", 1, 0), AttendanceRow(w["B"], "乙", 1, 0)]


def test_converting_each_punch_gives_the_same_result_as_the_constant_offset(sqlite_site, monkeypatch):
    svc, project_id, _other, _w = sqlite_site
    with svc.Session() as session:
        fast = monthly_summary(session, project_id, "2026-10")
        monkeypatch.setattr(attendance, "_constant_offset", lambda start, end: None)
        assert monthly_summary(session, project_id, "2026-10") == fast


def test_month_bounds_are_local_midnights_in_utc():
    assert month_bounds("2026-10") == (datetime(2026, 9, 30, 16), datetime(2026, 10, 31, 16))
    assert month_bounds("2026-12") == (datetime(2026, 11, 30, 16), datetime(2026, 12, 31, 16))


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "", None, "2026-10-01"])
def test_a_malformed_month_is_refused(month):
    with pytest.raises(ValueError):
        month_bounds(month)


# ---- demo data ---------------------------------------------------------------------------------


def test_the_demo_workforce_is_valid_and_seeding_twice_adds_nothing(any_db_services):
    svc = any_db_services
    with svc.Session() as session:
        project_id = session.scalar(select(Project.id))
    seed_workforce(svc, project_id, workers=6, month="2026-10")

    def totals():
        with svc.Session() as session:
            return [session.scalar(select(func.count()).select_from(m)) for m in (Worker, ProjectWorker, BankCard, Punch)]

    first = totals()
    seed_workforce(svc, project_id, workers=6, month="2026-10")
    assert totals() == first
    assert first[:3] == [6, 6, 6]

    working_days = sum(svc.calendar.is_working_day(date(2026, 10, 1) + timedelta(days=n)) for n in range(31))
    with svc.Session() as session:
        for worker in session.scalars(select(Worker)):
            assert is_valid_id_number(wf.id_number_of(svc.cipher, worker))
            assert is_valid_card_number(wf.card_number_of(svc.cipher, wf.current_card(session, worker.id)))
        pws = session.scalars(select(ProjectWorker)).all()
        assert {pw.trade for pw in pws} == {"020", "240", "010"}
        assert all(30000 <= pw.daily_rate_fen <= 45000 for pw in pws)
        rows = monthly_summary(session, project_id, "2026-10")
    assert len(rows) == 6
    for row in rows:
        assert working_days - 5 <= row.days <= working_days
        assert 95 * row.days <= row.hours_x10 <= 110 * row.days  # about 07:30 to 17:30 a day


def test_the_database_aggregation_equals_the_python_one_to_the_second(any_db_services, monkeypatch):
    """The per-dialect SQL (days since the local month start, max - min seconds) against the stream."""
    svc, project_id, _other, w = build_site(any_db_services)
    with svc.Session.begin() as session:
        # fractions of a second are cut off, never rounded up (SQLite's strftime would round .9999)
        punch(session, project_id, w["D"], "2026-10-16 00:00:00.999900")
        punch(session, project_id, w["D"], "2026-10-16 09:59:59.999900")
        punch(session, project_id, w["D"], "2026-10-16 15:59:59.999999")  # 10-16 23:59:59 local
    with svc.Session() as session:
        months = ("2026-09", "2026-10", "2026-11")
        in_sql = [monthly_summary(session, project_id, m) for m in months]
        monkeypatch.setattr(attendance, "_SECONDS_SQL", {})
        assert [monthly_summary(session, project_id, m) for m in months] == in_sql
    assert in_sql[1][1].worker_id == w["D"] and in_sql[1][1].days == 2
