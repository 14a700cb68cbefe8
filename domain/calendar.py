"""Working-day arithmetic for due times (REG-3).

Weekends are skipped, configured holidays are skipped, and configured make-up working days
(调休, a Saturday or Sunday declared a working day) count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Working days, due times and business dates are reckoned in China Standard Time.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_today(now: datetime | None = None) -> date:
    """Today's date in China Standard Time (`now`, aware, for tests; else the clock)."""
    return (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ).date()


def month_of(day: date) -> str:
    """The calendar month "YYYY-MM" of a date; such months compare correctly as strings."""
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_strings(cls, holidays: str = "", extra_workdays: str = "") -> "WorkingCalendar":
        def parse(text: str) -> frozenset[date]:
            items = [t.strip() for t in (text or "").replace(";", ",").split(",") if t.strip()]
            try:
                return frozenset(date.fromisoformat(t) for t in items)
            except ValueError as exc:
                raise ValueError(f"bad date in calendar configuration: {exc}") from None

        return cls(parse(holidays), parse(extra_workdays))

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The moment `days` full working days after `start`.

        A case opened on a non-working day starts counting at the next working day's midnight,
        so a Saturday submission with 3 working days is due at the end of Wednesday.
        """
        if days < 0:
            raise ValueError("days must be >= 0")
        moment = start
        if not self.is_working_day(moment.date()):
            moment = self._next_working_midnight(moment)
        for _ in range(days):
            moment += timedelta(days=1)
            while not self.is_working_day(moment.date()):
                moment += timedelta(days=1)
        return moment

    def _next_working_midnight(self, moment: datetime) -> datetime:
        day = moment.date() + timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, datetime.min.time(), tzinfo=moment.tzinfo)
