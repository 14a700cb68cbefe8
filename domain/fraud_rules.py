"""Attendance anti-fraud rules (BEY-9), I/O-free: plain records in, flags out.

The query layer (domain/fraud.py) reads the records; each rule here decides alone:
- `same_face_elsewhere`: the same worker (one face, one person) punched on this project and on
  another one the same local day;
- `after_exit`: a punch after the worker's exit (a local day after the engagement's exit date, or a
  time after the site-access revocation was issued);
- `correction_ratio`: a team's approved corrections over its punches and corrections of the month
  above the threshold (per cent, default 10; a team with no correction never fires);
- `low_match`: a punch whose face-match score (per mille) is below the threshold;
- `altered_photo`: a punch whose stored photo no longer hashes to the sha256 recorded with it (or is
  missing).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Iterable, Optional

DEFAULT_CORRECTION_RATIO_PCT = 10
DEFAULT_LOW_MATCH_SCORE = 700  # per mille


class FlagKind(StrEnum):
    SAME_FACE_ELSEWHERE = "same_face_elsewhere"
    AFTER_EXIT = "after_exit"
    CORRECTION_RATIO = "correction_ratio"
    LOW_MATCH = "low_match"
    ALTERED_PHOTO = "altered_photo"


@dataclass(frozen=True)
class Thresholds:
    correction_ratio_pct: int = DEFAULT_CORRECTION_RATIO_PCT
    low_match_score: int = DEFAULT_LOW_MATCH_SCORE


@dataclass(frozen=True)
class PunchFact:
    punch_id: int
    project_id: int
    worker_id: int
    day: date  # local day
    at: datetime  # naive UTC
    match_score: Optional[int] = None
    recorded_sha256: Optional[str] = None
    photo: Optional[bytes] = None  # the stored photo's bytes; None: no photo recorded, or missing
    has_photo: bool = False


@dataclass(frozen=True)
class ExitFact:
    worker_id: int
    exit_date: Optional[date]
    revoked_at: Optional[datetime]  # naive UTC


@dataclass(frozen=True)
class TeamMonth:
    team: str
    punches: int
    corrections: int


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    worker_id: Optional[int] = None
    day: Optional[date] = None
    punch_id: Optional[int] = None
    team: str = ""
    value: Optional[int] = None  # the score, the ratio in per cent, or the other project's id


def same_face_elsewhere(project_id: int, punches: Iterable[PunchFact]) -> list[Flag]:
    """One flag per (worker, day) with punches on `project_id` and on another project."""
    here: set[tuple[int, date]] = set()
    elsewhere: dict[tuple[int, date], int] = {}
    for p in punches:
        if p.project_id == project_id:
            here.add((p.worker_id, p.day))
        else:
            elsewhere.setdefault((p.worker_id, p.day), p.project_id)
    return [Flag(FlagKind.SAME_FACE_ELSEWHERE, worker_id=w, day=d, value=elsewhere[(w, d)])
            for w, d in sorted(here & elsewhere.keys())]


def after_exit(punches: Iterable[PunchFact], exits: dict[int, ExitFact]) -> list[Flag]:
    flags = []
    for p in punches:
        e = exits.get(p.worker_id)
        if e is None:
            continue
        if (e.exit_date is not None and p.day > e.exit_date) or (e.revoked_at is not None and p.at > e.revoked_at):
            flags.append(Flag(FlagKind.AFTER_EXIT, worker_id=p.worker_id, day=p.day, punch_id=p.punch_id))
    return flags


def correction_ratio(teams: Iterable[TeamMonth], threshold_pct: int = DEFAULT_CORRECTION_RATIO_PCT) -> list[Flag]:
    flags = []
    for t in teams:
        total = t.punches + t.corrections
        if t.corrections and 100 * t.corrections > threshold_pct * total:
            flags.append(Flag(FlagKind.CORRECTION_RATIO, team=t.team, value=(100 * t.corrections) // total))
    return flags


def low_match(punches: Iterable[PunchFact], threshold: int = DEFAULT_LOW_MATCH_SCORE) -> list[Flag]:
    return [Flag(FlagKind.LOW_MATCH, worker_id=p.worker_id, day=p.day, punch_id=p.punch_id, value=p.match_score)
            for p in punches if p.match_score is not None and p.match_score < threshold]


def altered_photo(punches: Iterable[PunchFact]) -> list[Flag]:
    flags = []
    for p in punches:
        if not p.has_photo:
            continue
        if p.photo is None or p.recorded_sha256 is None or hashlib.sha256(p.photo).hexdigest() != p.recorded_sha256:
            flags.append(Flag(FlagKind.ALTERED_PHOTO, worker_id=p.worker_id, day=p.day, punch_id=p.punch_id))
    return flags


def all_flags(project_id: int, punches: list[PunchFact], elsewhere: list[PunchFact], exits: dict[int, ExitFact],
              teams: list[TeamMonth], thresholds: Thresholds) -> list[Flag]:
    """Every rule over one project's month (`elsewhere`: the same workers' punches on other projects)."""
    return (same_face_elsewhere(project_id, [*punches, *elsewhere]) + after_exit(punches, exits)
            + correction_ratio(teams, thresholds.correction_ratio_pct)
            + low_match(punches, thresholds.low_match_score) + altered_photo(punches))


def counts(flags: Iterable[Flag]) -> dict[FlagKind, int]:
    out = {kind: 0 for kind in FlagKind}
    for f in flags:
        out[f.kind] += 1
    return out
