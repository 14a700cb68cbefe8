"""A known attendance site for the statistics, report, prefill, correction and flag tests.

The demo project, two companies, two teams and three workers, entered 2026-09-01; October 2026
(local times, China Standard Time):

- 甲 (钢筋班组, labour company): 10-09 07:30 in / 17:30 out (10 h); 10-12 08:00 in only, with an
  approved correction out at 17:00 (9 h) — 2 days, 19.0 h, 1 correction, no day by correction only.
- 乙 (钢筋班组, labour company): 10-09 08:00 / 16:00 (8 h); 10-13 no punch, approved corrections in
  08:00 and out 12:00 (4 h) — 2 days, 12.0 h, 2 corrections, 1 day by correction only. A pending and
  a refused correction of 乙 count for nothing.
- 丙 (木工班组, the contractor): 10-09 09:00 / 18:00 (9 h) — 1 day, 9.0 h.

On-duty: 10-09 3/3, 10-12 1/3, 10-13 1/3, every other day 0/3.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import count

from sqlalchemy import select

from domain import workforce as wf
from domain.corrections import local_instant_utc
from domain.models import Account, CompanyKind, Project, ProjectWorker, Punch, PunchCorrection, Role
from domain.passwords import hash_password
from domain.processes.attendance_correction import CorrectionStatus
from domain.rules import id_number_check_char
from shiming.seed import demo_credit_code

MONTH = "2026-10"
_keys = count()


@dataclass
class Site:
    project_id: int
    workers: dict  # name -> worker id
    requester_id: int  # the demo "project" account
    approver_id: int  # a second project account of the project ("project2")
    company_account_id: int  # a labour-company account of the project ("labour")


def local(day: str, clock: str) -> datetime:
    return local_instant_utc(date.fromisoformat(day), time.fromisoformat(clock))


def add_punch(session, project_id: int, worker_id: int, day: str, clock: str, direction: str = "in", **columns) -> Punch:
    p = Punch(dedupe_key=f"att-test-{next(_keys)}", project_id=project_id, worker_id=worker_id, direction=direction,
              punched_at=local(day, clock), device_code="test", **columns)
    session.add(p)
    session.flush()
    return p


def add_correction(session, site: Site, worker: str, day: str, clock: str, direction: str,
                   status: str = CorrectionStatus.APPROVED) -> PunchCorrection:
    worker_id = site.workers[worker]
    team_id = session.scalar(select(ProjectWorker.team_id).where(
        ProjectWorker.project_id == site.project_id, ProjectWorker.worker_id == worker_id))
    c = PunchCorrection(project_id=site.project_id, worker_id=worker_id, team_id=team_id, day=date.fromisoformat(day),
                        direction=direction, corrected_at=local(day, clock), reason="闸机故障", status=status,
                        requested_by=site.requester_id,
                        decided_by=site.approver_id if status != CorrectionStatus.PENDING else None)
    session.add(c)
    session.flush()
    return c


def _account(session, username: str, role: str, project_id: int, company_id=None) -> int:
    found = session.scalar(select(Account).where(Account.username == username))
    if found is None:
        found = Account(username=username, display_name=username, password_hash=hash_password("Attendance2026!"),
                        role=role, project_id=project_id, company_id=company_id)
        session.add(found)
        session.flush()
    return found.id


def build_site(services, punches: bool = True) -> Site:
    with services.Session.begin() as session:
        project = session.scalar(select(Project).order_by(Project.id).limit(1))
        labour = wf.ensure_company(session, project.id, "广西测试劳务有限公司", demo_credit_code("91450100MA5LW0077"),
                                   CompanyKind.LABOUR_COMPANY)
        contractor = wf.ensure_company(session, project.id, project.contractor_name, project.contractor_credit_code,
                                       CompanyKind.CONTRACTOR)
        rebar = wf.ensure_team(session, project.id, labour.id, "钢筋班组")
        carpentry = wf.ensure_team(session, project.id, contractor.id, "木工班组")
        workers = {}
        for name, body, team, company in (("甲", "45010319800101201", rebar, labour),
                                          ("乙", "45010319800101202", rebar, labour),
                                          ("丙", "45010319800101203", carpentry, contractor)):
            worker = wf.upsert_worker(session, services.cipher, name=name, id_number=body + id_number_check_char(body))
            wf.enrol(session, project_id=project.id, worker=worker, team=team, company=company, trade="020",
                     daily_rate_fen=30000, entry_date=date(2026, 9, 1))
            workers[name] = worker.id
        requester = session.scalar(select(Account.id).where(Account.username == "project"))
        site = Site(project.id, workers, requester, _account(session, "project2", Role.PROJECT, project.id),
                    _account(session, "labour", Role.COMPANY, project.id, labour.id))
        if punches:
            _month_of_punches(session, site)
    return site


def _month_of_punches(session, site: Site) -> None:
    a, b, c = site.workers["甲"], site.workers["乙"], site.workers["丙"]
    pid = site.project_id
    add_punch(session, pid, a, "2026-10-09", "07:30")
    add_punch(session, pid, a, "2026-10-09", "17:30", "out")
    add_punch(session, pid, a, "2026-10-12", "08:00")
    add_correction(session, site, "甲", "2026-10-12", "17:00", "out")
    add_punch(session, pid, b, "2026-10-09", "08:00")
    add_punch(session, pid, b, "2026-10-09", "16:00", "out")
    add_correction(session, site, "乙", "2026-10-13", "08:00", "in")
    add_correction(session, site, "乙", "2026-10-13", "12:00", "out")
    add_correction(session, site, "乙", "2026-10-14", "08:00", "in", CorrectionStatus.PENDING)
    add_correction(session, site, "乙", "2026-10-15", "08:00", "in", CorrectionStatus.REFUSED)
    add_punch(session, pid, c, "2026-10-09", "09:00")
    add_punch(session, pid, c, "2026-10-09", "18:00", "out")
