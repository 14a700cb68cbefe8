"""The roster import: every row checked first, and only a file without a single error written."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import scope
from ..models import Team
from ..pii import PiiCipher
from .checks import check_rows
from .database import check_against_database, load_existing, write
from .sheet import RowError, column_order, read_rows


@dataclass
class RosterResult:
    ok: bool
    created: int = 0  # enrolments added to the project
    updated: int = 0  # enrolments that existed and were updated
    errors: list[RowError] = field(default_factory=list)


@scope.unscoped()  # workers are found by ID number across projects
def import_roster(session: Session, cipher: PiiCipher, project_id: int, data: bytes,
                  company_id: Optional[int] = None) -> RosterResult:
    """Check every row of an .xlsx roster; when all are right, save them all, else save nothing.

    With `company_id`, only that company's teams are known (a company account's import).
    Workers are found by ID number (created, or their name kept and phone updated), enrolled on
    the project with the row's team (whose company becomes the employer), trade, daily rate and
    entry date, and given the row's card as their current card when one is filled in.
    Writes go through the caller's session and transaction in batches; objects of these tables
    already loaded in that session are not refreshed.
    """
    rows, errors = read_rows(data)
    if errors:
        return RosterResult(ok=False, errors=errors)
    team_query = select(Team.id, Team.company_id, Team.name).where(Team.project_id == project_id)
    if company_id is not None:  # a company account enrols into its own company's teams only (ACC-2 "collect")
        team_query = team_query.where(Team.company_id == company_id)
    teams = {name: (team_id, team_company) for team_id, team_company, name in session.execute(team_query)}
    parsed, errors = check_rows(rows, teams, cipher)
    existing = load_existing(session, parsed)
    errors += check_against_database(parsed, existing)
    if errors:
        errors.sort(key=lambda e: (e.row, column_order(e.column)))
        return RosterResult(ok=False, errors=errors)
    created, updated = write(session, cipher, project_id, parsed, existing)
    return RosterResult(ok=True, created=created, updated=updated)
