"""Attendance: the month's days and hours per worker, from the raw punches.

Punches are stored in naive UTC; days are local (China Standard Time) calendar days. A day
counts when the worker punched at least once that local day; its hours are the time from the
day's first to its last punch, whatever the direction recorded (devices mislabel directions).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from .calendar import LOCAL_TZ
from .models import ProjectWorker, Punch, Worker

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_SECONDS_PER_TENTH_HOUR = 360


@dataclass(frozen=True)
class AttendanceRow:
    worker_id: int
    name: str
    days: int
    hours_x10: int  # tenths of an hour, the month's seconds rounded half up


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The naive-UTC instants [start, end) of a local calendar month "YYYY-MM"."""
    m = _MONTH_RE.match(month or "")
    if not m:
        raise ValueError("month must be YYYY-MM")
    year, mon = int(m.group(1)), int(m.group(2))
    first = date(year, mon, 1)
    following = date(year + mon // 12, mon % 12 + 1, 1)
    return _local_midnight_utc(first), _local_midnight_utc(following)


def _local_midnight_utc(day: date) -> datetime:
    local = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def monthly_summary(session: Session, project_id: int, month: str) -> list[AttendanceRow]:
    """Days and hours of every worker on the project who punched in the month, by worker id.

    One pass over the month's punches (served by the (project, time) index), aggregated in
    Python as they stream in: portable across SQLite and MySQL, whose date functions differ.
    """
    start, end = month_bounds(month)
    names = dict(session.execute(
        select(Worker.id, Worker.name).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
        .where(ProjectWorker.project_id == project_id)).all())
    punch = Punch.__table__  # plain Core rows: no ORM loading for half a million of them
    rows = session.execute(
        select(punch.c.worker_id, punch.c.punched_at)
        .where(punch.c.project_id == project_id, punch.c.punched_at >= start, punch.c.punched_at < end)
        .execution_options(yield_per=20_000)
    )
    # Each punch becomes (local day number in the month, local second of that day): with one UTC
    # offset all month that is plain arithmetic on the UTC time, otherwise each punch is converted.
    base = start
    if _constant_offset(start, end) is None:
        base = _to_local(start)
        rows = ((w, _to_local(at)) for w, at in rows)
    first: dict[int, int] = {}  # key worker_id * 64 + day -> earliest second of that local day
    last: dict[int, int] = {}
    for worker_id, at in rows:
        offset = at - base
        key = worker_id * 64 + offset.days
        second = offset.seconds
        earliest = first.get(key)
        if earliest is None:
            first[key] = last[key] = second
        elif second < earliest:
            first[key] = second
        elif second > last[key]:
            last[key] = second
    days: dict[int, int] = {}
    seconds: dict[int, int] = {}
    for key, earliest in first.items():
        worker_id = key // 64
        days[worker_id] = days.get(worker_id, 0) + 1
        seconds[worker_id] = seconds.get(worker_id, 0) + last[key] - earliest
    return [
        AttendanceRow(worker_id=w, name=names[w], days=days[w],
                      hours_x10=(seconds[w] + _SECONDS_PER_TENTH_HOUR // 2) // _SECONDS_PER_TENTH_HOUR)
        for w in sorted(days) if w in names
    ]


def _to_local(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).replace(tzinfo=None)


def _constant_offset(start: datetime, end: datetime) -> Optional[timedelta]:
    """The zone's UTC offset when it is the same at every hour of [start, end), else None."""
    hours = int((end - start).total_seconds()) // 3600
    offsets = {(start + timedelta(hours=h)).replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).utcoffset()
               for h in range(hours + 1)}
    return offsets.pop() if len(offsets) == 1 else None
