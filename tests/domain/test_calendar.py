"""Working-day arithmetic for due times (REG-3)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar

PLAIN = WorkingCalendar()
NATIONAL_DAY_2026 = ",".join(f"2026-10-{d:02d}" for d in range(1, 8))  # Thu 1 Oct .. Wed 7 Oct
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hh: int = 0, mm: int = 0, tz=None) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hh, mm), tzinfo=tz)


def test_monday_morning_plus_three_working_days_is_thursday_morning():
    assert at("2026-09-14").weekday() == 0
    assert PLAIN.add_working_days(at("2026-09-14", 10), 3) == at("2026-09-17", 10)


def test_friday_plus_three_working_days_skips_the_weekend():
    assert PLAIN.add_working_days(at("2026-09-18", 10), 3) == at("2026-09-23", 10)  # Wednesday


def test_saturday_counts_from_monday_midnight():
    # Due at the end of Wednesday, i.e. Thursday 00:00.
    assert PLAIN.add_working_days(at("2026-09-19", 15, 30), 3) == at("2026-09-24", 0)


def test_sunday_with_zero_days_is_due_at_monday_midnight():
    assert PLAIN.add_working_days(at("2026-09-20", 23, 59), 0) == at("2026-09-21", 0)


def test_zero_days_on_a_working_day_is_the_start_itself():
    assert PLAIN.add_working_days(at("2026-09-16", 9, 15), 0) == at("2026-09-16", 9, 15)


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        PLAIN.add_working_days(at("2026-09-16", 9), -1)


def test_configured_holidays_are_skipped():
    cal = WorkingCalendar.from_strings(NATIONAL_DAY_2026)
    assert cal.add_working_days(at("2026-09-30", 10), 1) == at("2026-10-08", 10)
    assert cal.add_working_days(at("2026-09-30", 10), 3) == at("2026-10-12", 10)  # Thu, Fri, Mon


def test_a_start_inside_the_holiday_counts_from_the_first_working_midnight():
    cal = WorkingCalendar.from_strings(NATIONAL_DAY_2026)
    assert cal.add_working_days(at("2026-10-02", 11), 1) == at("2026-10-09", 0)


def test_a_make_up_sunday_counts_as_a_working_day():
    cal = WorkingCalendar.from_strings(NATIONAL_DAY_2026, "2026-09-20")
    assert at("2026-09-20").weekday() == 6
    assert cal.add_working_days(at("2026-09-18", 10), 1) == at("2026-09-20", 10)
    assert cal.add_working_days(at("2026-09-20", 10), 1) == at("2026-09-21", 10)  # not midnight
    assert PLAIN.add_working_days(at("2026-09-18", 10), 1) == at("2026-09-21", 10)


def test_a_make_up_day_wins_over_the_same_day_listed_as_holiday():
    cal = WorkingCalendar.from_strings("2026-10-10", "2026-10-10")
    assert cal.is_working_day(date(2026, 10, 10))


def test_config_strings_accept_commas_semicolons_and_blanks():
    cal = WorkingCalendar.from_strings(" 2026-10-01 ;2026-10-02,, ", "")
    assert cal.holidays == frozenset({date(2026, 10, 1), date(2026, 10, 2)})
    assert WorkingCalendar.from_strings("", "") == PLAIN


@pytest.mark.parametrize("bad", ["2026-13-01", "tomorrow", "2026-10-01,2026/10/02", "2026-02-30"])
def test_a_bad_calendar_string_raises_value_error(bad):
    with pytest.raises(ValueError, match="bad date in calendar configuration"):
        WorkingCalendar.from_strings(bad)
    with pytest.raises(ValueError):
        WorkingCalendar.from_strings("", bad)


def test_time_zone_is_kept():
    due = PLAIN.add_working_days(at("2026-09-19", 10, tz=SHANGHAI), 1)
    assert due == at("2026-09-22", 0, tz=SHANGHAI)
    assert due.tzinfo is SHANGHAI


# ---- property ---------------------------------------------------------------------------------

days_2026_2027 = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))
calendars = st.builds(
    WorkingCalendar,
    holidays=st.frozensets(days_2026_2027, max_size=40),
    extra_workdays=st.frozensets(days_2026_2027, max_size=10),
)
starts = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([None, SHANGHAI]),
)


@given(cal=calendars, start=starts, days=st.integers(min_value=0, max_value=40))
def test_due_time_lands_on_a_working_day_after_exactly_n_working_days(cal, start, days):
    due = cal.add_working_days(start, days)

    assert cal.is_working_day(due.date())
    assert due >= start
    if days > 0:
        assert due > start
    # A start on a working day keeps its time of day; otherwise counting starts at midnight.
    assert due.time() == (start.time() if cal.is_working_day(start.date()) else time(0))
    # Whole working days consumed: those from the start day up to, not including, the due day.
    between = [start.date() + timedelta(n) for n in range((due.date() - start.date()).days)]
    assert sum(cal.is_working_day(d) for d in between) == days
