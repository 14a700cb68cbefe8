"""Attendance statistics (ATT-5, DASH-3): a day's and a month's figures per worker, team and company,
and the on-duty rate.

- Days and hours come from `domain.attendance` only (the wage table's prefill reads the same
  `monthly_summary`), approved corrections counted apart from punches (`corrections`, `corrected_days`).
- Admitted on a local day: the engagement has begun (`entry_date` ≤ day), has not ended (no
  `exit_date`, or ≥ day), and, for a worker brought in by an enrolment case, site access was granted
  (`admitted_at`) by the end of that day; a roster import needs no grant.
- Attended on a day: admitted, and at least one device punch or approved correction that local day.
- On-duty rate of a day: attended / admitted (None when nobody is admitted), in per mille.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from .attendance import (
    _SECONDS_PER_TENTH_HOUR,
    _local_midnight_utc,
    _to_local,
    approved_corrections,
    day_spans,
    local_clock,
    month_bounds,
    monthly_summary,
)
from .models import Company, Project, ProjectWorker, Punch, Team, Worker


@dataclass(frozen=True)
class Engagement:
    worker_id: int
    name: str
    team: str
    company: str
    entry_date: date
    exit_date: Optional[date]
    needs_grant: bool
    admitted_on: Optional[date]

    def admitted(self, day: date) -> bool:
        if day < self.entry_date or (self.exit_date is not None and day > self.exit_date):
            return False
        return not self.needs_grant or (self.admitted_on is not None and self.admitted_on <= day)


@dataclass
class Figures:
    """One worker's, team's or company's figures over a day or a month."""

    name: str
    workers: int = 0  # attended workers (a worker row: 1 when it has a day)
    days: int = 0
    hours_x10: int = 0
    punches: int = 0
    corrections: int = 0
    corrected_days: int = 0
    team: str = ""
    company: str = ""
    first_at: Optional[datetime] = None  # a day's first and last local time (a worker's day row)
    last_at: Optional[datetime] = None

    def add(self, other: "Figures") -> None:
        self.workers += other.workers
        self.days += other.days
        self.hours_x10 += other.hours_x10
        self.punches += other.punches
        self.corrections += other.corrections
        self.corrected_days += other.corrected_days


@dataclass(frozen=True)
class DayRate:
    day: date
    attended: int
    admitted: int

    @property
    def per_mille(self) -> Optional[int]:
        return None if self.admitted == 0 else (1000 * self.attended + self.admitted // 2) // self.admitted


@dataclass
class Statistics:
    project_name: str
    period: str  # "YYYY-MM" or "YYYY-MM-DD"
    workers: list[Figures] = field(default_factory=list)
    teams: list[Figures] = field(default_factory=list)
    companies: list[Figures] = field(default_factory=list)
    total: Figures = field(default_factory=lambda: Figures(""))
    rates: list[DayRate] = field(default_factory=list)


def engagements(session: Session, project_id: int) -> dict[int, Engagement]:
    rows = session.execute(
        select(ProjectWorker.worker_id, Worker.name, Team.name, Company.name, ProjectWorker.entry_date,
               ProjectWorker.exit_date, ProjectWorker.enrolment_id, ProjectWorker.admitted_at)
        .join(Worker, Worker.id == ProjectWorker.worker_id).join(Team, Team.id == ProjectWorker.team_id)
        .join(Company, Company.id == ProjectWorker.company_id).where(ProjectWorker.project_id == project_id))
    return {w: Engagement(w, name, team, company, entry, exit_, enrolment_id is not None,
                          _to_local(admitted).date() if admitted else None)
            for w, name, team, company, entry, exit_, enrolment_id, admitted in rows}


def _attended_days(session: Session, project_id: int, start: datetime, end: datetime,
                   engaged: dict[int, Engagement]) -> tuple[dict[tuple[int, int], tuple[int, int]], dict, dict]:
    """(worker, day number) spans over punches and corrections, and punch / correction counts per key."""
    punch = Punch.__table__
    punched = session.execute(select(punch.c.worker_id, punch.c.punched_at).where(
        punch.c.project_id == project_id, punch.c.punched_at >= start, punch.c.punched_at < end)).all()
    corrected = approved_corrections(session, project_id, start, end)
    base, clock = _to_local(start), local_clock(start, end)
    spans = day_spans([*punched, *corrected], base, clock)
    counts: dict[tuple[int, int], int] = {}
    fixes: dict[tuple[int, int], int] = {}
    for table, rows in ((counts, punched), (fixes, corrected)):
        for w, at in rows:
            key = (w, (clock(at) - base).days)
            table[key] = table.get(key, 0) + 1
    return spans, counts, fixes


def _group(rows: list[Figures], attr: str) -> list[Figures]:
    groups: dict[str, Figures] = {}
    for row in rows:
        groups.setdefault(getattr(row, attr), Figures(getattr(row, attr))).add(row)
    return [groups[k] for k in sorted(groups)]


def _finish(stats: Statistics) -> Statistics:
    stats.teams, stats.companies = _group(stats.workers, "team"), _group(stats.workers, "company")
    for row in stats.workers:
        stats.total.add(row)
    stats.total.name = stats.project_name
    return stats


def _rates(days: list[date], spans, engaged: dict[int, Engagement], first: date) -> list[DayRate]:
    rates = []
    for day in days:
        n = (day - first).days
        admitted = [w for w, e in engaged.items() if e.admitted(day)]
        rates.append(DayRate(day, sum(1 for w in admitted if (w, n) in spans), len(admitted)))
    return rates


def monthly(session: Session, project_id: int, month: str) -> Statistics:
    """The month: per worker the days and hours of `monthly_summary`, and each day's on-duty rate."""
    start, end = month_bounds(month)
    engaged = engagements(session, project_id)
    stats = Statistics(session.get(Project, project_id).name, month)
    spans, counts, _fixes = _attended_days(session, project_id, start, end, engaged)
    punches: dict[int, int] = {}
    for (w, _n), c in counts.items():
        punches[w] = punches.get(w, 0) + c
    for row in monthly_summary(session, project_id, month):
        e = engaged[row.worker_id]
        stats.workers.append(Figures(row.name, 1, row.days, row.hours_x10, punches.get(row.worker_id, 0),
                                     row.corrections, row.corrected_days, e.team, e.company))
    first = _to_local(start).date()
    stats.rates = _rates([first + timedelta(days=n) for n in range((_to_local(end).date() - first).days)],
                         spans, engaged, first)
    return _finish(stats)


def daily(session: Session, project_id: int, day: date) -> Statistics:
    """One local day: per worker the first and last time, hours, punches and corrections apart."""
    start = _local_midnight_utc(day)
    engaged = engagements(session, project_id)
    stats = Statistics(session.get(Project, project_id).name, day.isoformat())
    spans, counts, fixes = _attended_days(session, project_id, start, _local_midnight_utc(day + timedelta(days=1)),
                                          engaged)
    base = _to_local(start)
    for (w, _n), (first, last) in sorted(spans.items()):
        e = engaged.get(w)
        if e is None:
            continue
        hours = (last - first + _SECONDS_PER_TENTH_HOUR // 2) // _SECONDS_PER_TENTH_HOUR
        only_fixed = counts.get((w, 0), 0) == 0
        stats.workers.append(Figures(e.name, 1, 1, hours, counts.get((w, 0), 0), fixes.get((w, 0), 0),
                                     1 if only_fixed else 0, e.team, e.company,
                                     base + timedelta(seconds=first), base + timedelta(seconds=last)))
    stats.rates = _rates([day], spans, engaged, day)
    return _finish(stats)
