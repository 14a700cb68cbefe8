"""The query layer of the anti-fraud flags (BEY-9): a project's month of punches, exits, team
corrections and stored photos, read once and judged by domain/fraud_rules.py.

The other projects' punches of the same workers are read unscoped (a project's specialist sees the
flag, never the other project's records); the photos are read from the blob store by the file's
path, so bytes altered on disk are judged, not refused on the way.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import scope
from .attendance import _to_local, month_bounds
from .blobstore import BlobStore
from .fraud_rules import ExitFact, Flag, FlagKind, PunchFact, TeamMonth, Thresholds, all_flags, counts
from .models import ProjectWorker, Punch, PunchCorrection, SiteAccessRevocation, StoredFile, Team
from .processes.attendance_correction import CorrectionStatus


def thresholds_of(settings) -> Thresholds:
    return Thresholds(settings.fraud_correction_ratio_pct, settings.fraud_low_match_score)


def _photo(blobs: BlobStore, sha256: str | None) -> bytes | None:
    if not sha256:
        return None
    try:
        return blobs.path_for(sha256).read_bytes()
    except (OSError, ValueError):
        return None


def _punches(session: Session, blobs: BlobStore, project_id: int, start: datetime, end: datetime) -> list[PunchFact]:
    rows = session.execute(
        select(Punch.id, Punch.worker_id, Punch.punched_at, Punch.match_score, Punch.photo_file_id,
               Punch.photo_sha256, StoredFile.sha256)
        .outerjoin(StoredFile, StoredFile.id == Punch.photo_file_id)
        .where(Punch.project_id == project_id, Punch.punched_at >= start, Punch.punched_at < end)
        .order_by(Punch.punched_at, Punch.id))
    return [PunchFact(pid, project_id, w, _to_local(at).date(), at, score, recorded,
                      _photo(blobs, stored_sha) if file_id else None, file_id is not None)
            for pid, w, at, score, file_id, recorded, stored_sha in rows]


def _elsewhere(session: Session, project_id: int, workers: set[int], start: datetime, end: datetime) -> list[PunchFact]:
    if not workers:
        return []
    with scope.unscoped():
        rows = session.execute(select(Punch.id, Punch.project_id, Punch.worker_id, Punch.punched_at).where(
            Punch.project_id != project_id, Punch.worker_id.in_(sorted(workers)),
            Punch.punched_at >= start, Punch.punched_at < end)).all()
    return [PunchFact(pid, p, w, _to_local(at).date(), at) for pid, p, w, at in rows]


def _exits(session: Session, project_id: int) -> dict[int, ExitFact]:
    revoked = dict(session.execute(select(SiteAccessRevocation.worker_id, func.min(SiteAccessRevocation.issued_at))
                                   .where(SiteAccessRevocation.project_id == project_id)
                                   .group_by(SiteAccessRevocation.worker_id)).all())
    exits = {}
    for w, exit_date in session.execute(select(ProjectWorker.worker_id, ProjectWorker.exit_date)
                                        .where(ProjectWorker.project_id == project_id)):
        if exit_date is not None or w in revoked:
            exits[w] = ExitFact(w, exit_date, revoked.get(w))
    return exits


def _teams(session: Session, project_id: int, start: datetime, end: datetime) -> list[TeamMonth]:
    punches = dict(session.execute(
        select(Team.name, func.count(Punch.id)).select_from(Punch)
        .join(ProjectWorker, (ProjectWorker.worker_id == Punch.worker_id) & (ProjectWorker.project_id == project_id))
        .join(Team, Team.id == ProjectWorker.team_id)
        .where(Punch.project_id == project_id, Punch.punched_at >= start, Punch.punched_at < end)
        .group_by(Team.name)).all())
    fixes = dict(session.execute(
        select(Team.name, func.count(PunchCorrection.id)).join(Team, Team.id == PunchCorrection.team_id)
        .where(PunchCorrection.project_id == project_id, PunchCorrection.status == CorrectionStatus.APPROVED,
               PunchCorrection.corrected_at >= start, PunchCorrection.corrected_at < end)
        .group_by(Team.name)).all())
    return [TeamMonth(t, punches.get(t, 0), fixes.get(t, 0)) for t in sorted({*punches, *fixes})]


def project_flags(session: Session, blobs: BlobStore, project_id: int, month: str,
                  thresholds: Thresholds) -> list[Flag]:
    """Every flag of the project's local month "YYYY-MM" (ValueError for another month text)."""
    start, end = month_bounds(month)
    punches = _punches(session, blobs, project_id, start, end)
    elsewhere = _elsewhere(session, project_id, {p.worker_id for p in punches}, start, end)
    return all_flags(project_id, punches, elsewhere, _exits(session, project_id),
                     _teams(session, project_id, start, end), thresholds)


def flag_counts(session: Session, blobs: BlobStore, project_ids: list[int], month: str,
                thresholds: Thresholds) -> dict[int, dict[FlagKind, int]]:
    """Per project, the number of flags of each kind in the month."""
    return {pid: counts(project_flags(session, blobs, pid, month, thresholds)) for pid in project_ids}

