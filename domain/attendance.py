"""Attendance: the month's days and hours per worker, from the raw punches.

Punches are stored in naive UTC; days are local (China Standard Time) calendar days. A day
counts when the worker punched at least once that local day; its hours are the time from the
day's first to its last punch, whatever the direction recorded (devices mislabel directions).

Approved punch corrections (补卡, domain/corrections.py) count as corrections, never as punches:
a corrected time takes part in its day's first-to-last hours and makes the day count, and each row
says apart how many approved corrections it holds (`corrections`) and how many of its days count
only through one (`corrected_days`). This module is the one source of days and hours: the wage
table's prefill and the attendance statistics both read `monthly_summary`.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import Session

from .calendar import LOCAL_TZ
from .models import ProjectWorker, Punch, PunchCorrection, Worker
from .processes.attendance_correction import CorrectionStatus

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_SECONDS_PER_TENTH_HOUR = 360


@dataclass(frozen=True)
class AttendanceRow:
    worker_id: int
    name: str
    days: int
    hours_x10: int  # tenths of an hour, the month's seconds rounded half up
    corrections: int = 0  # approved corrections counted in the month (shown apart from punches)
    corrected_days: int = 0  # days that count only through an approved correction


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

    One pass over the month's punches (served by the (project, time) index). When the zone keeps
    one UTC offset all month (always, for China Standard Time) the database aggregates per worker
    and local day itself (SQLite and MySQL/MariaDB, whose date functions differ); otherwise, or on
    another database, the punches stream into Python and each one is converted.
    """
    start, end = month_bounds(month)
    names = dict(session.execute(
        select(Worker.id, Worker.name).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
        .where(ProjectWorker.project_id == project_id)).all())
    dialect = session.get_bind().dialect.name
    if _constant_offset(start, end) is not None and dialect in _SECONDS_SQL:
        totals = _totals_in_sql(session, dialect, project_id, start, end)
    else:
        totals = _totals_in_python(session, project_id, start, end)
    merged = _with_corrections(session, project_id, start, end, totals)
    return [
        AttendanceRow(worker_id=w, name=names[w], days=days,
                      hours_x10=(seconds + _SECONDS_PER_TENTH_HOUR // 2) // _SECONDS_PER_TENTH_HOUR,
                      corrections=corrections, corrected_days=corrected_days)
        for w, (days, seconds, corrections, corrected_days) in sorted(merged.items()) if w in names
    ]


def approved_corrections(session: Session, project_id: int, start: datetime, end: datetime,
                         worker_ids=None) -> list[tuple[int, datetime]]:
    """(worker id, corrected naive-UTC time) of the approved corrections in [start, end)."""
    pc = PunchCorrection.__table__
    q = select(pc.c.worker_id, pc.c.corrected_at).where(
        pc.c.project_id == project_id, pc.c.status == CorrectionStatus.APPROVED,
        pc.c.corrected_at >= start, pc.c.corrected_at < end)
    if worker_ids is not None:
        q = q.where(pc.c.worker_id.in_(worker_ids))
    return [(w, at) for w, at in session.execute(q)]


def local_clock(start: datetime, end: datetime):
    """naive UTC -> naive local for the instants of [start, end): plain addition when the zone keeps one
    UTC offset over it (always, for China Standard Time), else each instant converted."""
    offset = _constant_offset(start, end)
    return _to_local if offset is None else (lambda at: at + offset)


def day_spans(rows, base: datetime, to_local=None) -> dict[tuple[int, int], tuple[int, int]]:
    """(worker id, local day number since the local `base`) -> (first, last) local second of that day."""
    to_local = to_local or _to_local
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for worker_id, at in rows:
        offset = to_local(at) - base
        key, second = (worker_id, offset.days), offset.seconds
        first, last = spans.get(key, (second, second))
        spans[key] = (min(first, second), max(last, second))
    return spans


def _with_corrections(session: Session, project_id: int, start: datetime, end: datetime,
                      totals: list[tuple[int, int, int]]) -> dict[int, tuple[int, int, int, int]]:
    """worker id -> (days, seconds, corrections, corrected days): the punches' totals with each
    corrected day's span re-measured over its punches and its corrected times together."""
    merged = {w: (days, seconds, 0, 0) for w, days, seconds in totals}
    corrected = approved_corrections(session, project_id, start, end)
    if not corrected:
        return merged
    clock = local_clock(start, end)
    base = _to_local(start)
    fixed = day_spans(corrected, base, clock)  # the corrected (worker, day)s: only their punches matter
    punch = Punch.__table__
    first_day = base.date()
    days = [first_day + timedelta(days=n) for n in sorted({n for _w, n in fixed})]
    on_days = or_(*(and_(punch.c.punched_at >= _local_midnight_utc(d),
                         punch.c.punched_at < _local_midnight_utc(d + timedelta(days=1))) for d in days))
    punched = [(w, at) for w, at in session.execute(select(punch.c.worker_id, punch.c.punched_at).where(
        punch.c.project_id == project_id, on_days, punch.c.worker_id.in_(sorted({w for w, _day in fixed}))))
        if (w, (clock(at) - base).days) in fixed]
    by_punch = day_spans(punched, base, clock)
    by_both = day_spans([*punched, *corrected], base, clock)
    for worker_id, day in fixed:
        first, last = by_both[(worker_id, day)]
        before = by_punch.get((worker_id, day))
        days, seconds, count, only = merged.get(worker_id, (0, 0, 0, 0))
        if before is None:
            days, only = days + 1, only + 1
        else:
            seconds -= before[1] - before[0]
        merged[worker_id] = (days, seconds + last - first, count, only)
    for worker_id, _at in corrected:
        days, seconds, count, only = merged[worker_id]
        merged[worker_id] = (days, seconds, count + 1, only)
    return merged


# Whole seconds since 1970 of the naive-UTC `punched_at`, fractions cut off as Python's
# timedelta.seconds does (SQLite's strftime would round .9995 up: hence the substr).
_SECONDS_SQL = {
    "sqlite": "CAST(strftime('%s', substr(punched_at, 1, 19)) AS INTEGER)",
    "mysql": "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', punched_at)",
    "mariadb": "TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', punched_at)",
}
_INTEGER_DIVIDE = {"sqlite": "/", "mysql": "DIV", "mariadb": "DIV"}
_EPOCH = datetime(1970, 1, 1)


def _totals_in_sql(session: Session, dialect: str, project_id: int, start: datetime,
                   end: datetime) -> list[tuple[int, int, int]]:
    """(worker id, days, seconds) aggregated by the database.

    With one UTC offset all month and `start` a local midnight, the local day of a punch is the
    whole number of days since `start` and its hours are max - min of its seconds that day.
    """
    month_punches = "project_id = :project_id AND punched_at >= :start AND punched_at < :end"
    materialized = ""
    if dialect == "sqlite":
        # The (project, time) index gives the rows in time order, which is not the table's order
        # when punches arrive late or, as in the benchmark's seed, worker by worker: collecting the
        # ids first makes SQLite read the rows in table order (a third faster at 10,000 workers).
        month_punches = f"id IN (SELECT id FROM punch WHERE {month_punches})"
        if sqlite3.sqlite_version_info >= (3, 35):  # else each row's seconds are computed thrice
            materialized = "MATERIALIZED "
    sql = text(f"""
        WITH p AS {materialized}(
            SELECT worker_id, {_SECONDS_SQL[dialect]} - :start_s AS s FROM punch WHERE {month_punches})
        SELECT worker_id, COUNT(*) AS days, SUM(last_s - first_s) AS seconds
        FROM (SELECT worker_id, s {_INTEGER_DIVIDE[dialect]} 86400 AS day, MIN(s) AS first_s, MAX(s) AS last_s
              FROM p GROUP BY worker_id, day) AS d
        GROUP BY worker_id""")
    rows = session.execute(sql, {"project_id": project_id, "start": start, "end": end,
                                 "start_s": int((start - _EPOCH).total_seconds())})
    return [(worker_id, int(days), int(seconds)) for worker_id, days, seconds in rows]


def _totals_in_python(session: Session, project_id: int, start: datetime,
                      end: datetime) -> list[tuple[int, int, int]]:
    """(worker id, days, seconds), the punches streamed and aggregated as they come."""
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
    return [(w, days[w], seconds[w]) for w in days]


def _to_local(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).replace(tzinfo=None)


def _constant_offset(start: datetime, end: datetime) -> Optional[timedelta]:
    """The zone's UTC offset when it is the same at every hour of [start, end), else None."""
    hours = int((end - start).total_seconds()) // 3600
    offsets = {(start + timedelta(hours=h)).replace(tzinfo=timezone.utc).astimezone(LOCAL_TZ).utcoffset()
               for h in range(hours + 1)}
    return offsets.pop() if len(offsets) == 1 else None
