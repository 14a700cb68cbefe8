"""Enrolment test data built through the domain's own functions: a project with a company and a
team, a second project, a completed enrolment record, a stored scan, and the enrolment row; and the
process on a test server: `start_workflow`, `state_is`, `record_history` (SHIMING_RECORD_HISTORIES=1
refreshes the committed histories replayed by tests/workflows/test_enrolment_replay.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Optional

from sqlalchemy import select

from domain import enrolment as enr
from domain import workforce
from domain.models import Account, CompanyKind, Enrolment, Project
from domain.processes.enrolment import EnrolmentInput, FaceConsent
from domain.services import Services
from tests.helpers.scan_samples import minimal_png
from tests.helpers.identities import id_number_for
from tests.helpers.workflow_env import wait_for
from workflows.enrolment import EnrolmentWorkflow

TEMPLATE = bytes(range(256)) * 8  # 2048 bytes: the size of a 512-float template


@dataclass
class Site:
    project_id: int
    company_id: int
    team_id: int
    actor_id: int  # the project account (labour specialist)


def site(services: Services, project_id: Optional[int] = None, username: str = "project") -> Site:
    with services.Session.begin() as session:
        if project_id is None:
            project_id = session.scalar(select(Project.id).order_by(Project.id).limit(1))
        company = workforce.ensure_company(session, project_id, "广西测试劳务有限公司", "91450100MA5KAAAA1X",
                                           CompanyKind.LABOUR_COMPANY)
        team = workforce.ensure_team(session, project_id, company.id, "采集测试班组")
        team.leader_name = "黄班长"
        actor = session.scalar(select(Account.id).where(Account.username == username))
        return Site(project_id, company.id, team.id, actor)


def other_project(services: Services) -> int:
    """A second project, a copy of the first one's facts under another code."""
    with services.Session.begin() as session:
        first = session.scalar(select(Project).order_by(Project.id).limit(1))
        columns = {c.key: getattr(first, c.key) for c in Project.__table__.columns if c.key not in ("id", "code",
                                                                                                   "registration_id")}
        other = Project(code=first.code[:-1] + "9", **columns)
        session.add(other)
        session.flush()
        return other.id


def id_number(sequence: int = 123) -> str:
    return id_number_for("450103", date(1985, 6, 1), sequence)


def record(s: Site, **changes) -> enr.EnrolmentRecord:
    base = enr.EnrolmentRecord(
        name="覃建国", id_number=id_number(), phone="13800138000", trade="020", company_id=s.company_id,
        team_id=s.team_id, emergency_contact_name="覃妻", emergency_contact_phone="13900139001",
        contract_start=date(2026, 12, 1), contract_end=date(2027, 11, 30), daily_rate_fen=35000,
        verified_by_card=True, card_valid_to=date(2035, 1, 1), face_consent=FaceConsent.GIVEN,
        face_template=TEMPLATE)
    return replace(base, **changes)


def start(services: Services, s: Site, r: Optional[enr.EnrolmentRecord] = None,
          project_id: Optional[int] = None) -> tuple[int, str]:
    """The enrolment row, as the enrolment page writes it; returns (enrolment id, workflow id)."""
    with services.Session.begin() as session:
        row = enr.start_enrolment(session, services.cipher, project_id or s.project_id,
                                  session.get(Account, s.actor_id), r or record(s), today=date(2026, 12, 3))
        return row.id, row.workflow_id


def stored_scan(services: Services) -> int:
    with services.Session.begin() as session:
        return services.blobs.store(session, minimal_png(), "image/png", "scan.png").id


def enrolment(services: Services, enrolment_id: int) -> Enrolment:
    with services.Session() as session:
        return session.get(Enrolment, enrolment_id)


HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


def record_history(history_json: str, case: str) -> None:
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / f"enrolment_{case}.json").write_text(history_json)


async def start_workflow(harness, started, enrolment_id: int, workflow_id: str, actor_id: int):
    handle = await harness.env.client.start_workflow(
        EnrolmentWorkflow.run, EnrolmentInput(enrolment_id, actor_id), id=workflow_id,
        task_queue=harness.task_queue)
    started.append(handle)
    return handle


async def state_is(handle, state: str):
    async def probe():
        view = await handle.query(EnrolmentWorkflow.status)
        return view if view.state == state else None
    return await wait_for(probe, f"state {state}")
