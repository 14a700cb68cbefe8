"""Demo workforce for a project: companies, teams, workers with cards, and a month of punches.

Deterministic (the random generator is seeded from the project id) and idempotent: running it
again finds the same companies, teams, workers, cards and punches and adds nothing. Devices and
punch ingest come later, so the punches are written directly, one "in" and one "out" a working day.
"""
from __future__ import annotations

import calendar
import random
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import insert, select

from domain import workforce as wf
from domain.attendance import month_bounds
from domain.calendar import LOCAL_TZ
from domain.models import CompanyKind, Project, Punch, utcnow
from domain.rules import id_number_check_char, luhn_check_digit
from domain.services import Services
from shiming.seed import demo_credit_code

# bank name, card BIN (issuer prefix) of a 19-digit debit card
BANKS = [("中国工商银行", "622202"), ("中国建设银行", "621700"), ("中国农业银行", "622848"), ("中国银行", "621661")]
# team name, national trade code
TEAMS = [("钢筋班组", "020"), ("木工班组", "240"), ("砌筑班组", "010")]
REGIONS = ["450103", "450107", "450203", "452122", "510623", "431021"]  # Guangxi, Sichuan, Hunan counties
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁韦蒙覃莫"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志文斌海波春"
LABOUR_COMPANY_NAME = "广西示范劳务有限公司"
LABOUR_COMPANY_CODE = demo_credit_code("91450100MA5LW0001")
IN_AT, OUT_AT = time(7, 30), time(17, 30)  # local clock times the demo punches scatter around


def generate_id_number(rng: random.Random, region: str = "450103", birth: date | None = None) -> str:
    """A valid ID number: region, birth date (random age 27–60 when not given), sequence, check."""
    if birth is None:
        birth = date(1966, 1, 1) + timedelta(days=rng.randrange(34 * 365))
    body = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + id_number_check_char(body)


def generate_card_number(rng: random.Random, prefix: str = "622202", length: int = 19) -> str:
    """A card number with a valid Luhn check digit."""
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


def generate_phone(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"


def seed_workforce(services: Services, project_id: int, workers: int = 30, month: str = "2026-10") -> None:
    rng = random.Random(f"shiming-workforce-{project_id}")
    start, end = month_bounds(month)  # validates "YYYY-MM"
    first_day = date(int(month[:4]), int(month[5:]), 1)
    days = (first_day + timedelta(days=n) for n in range(calendar.monthrange(first_day.year, first_day.month)[1]))
    working_days = [d for d in days if services.calendar.is_working_day(d)]
    with services.Session.begin() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise ValueError(f"no project {project_id}")
        contractor = wf.ensure_company(session, project_id, project.contractor_name, project.contractor_credit_code,
                                       CompanyKind.CONTRACTOR)
        labour = wf.ensure_company(session, project_id, LABOUR_COMPANY_NAME, LABOUR_COMPANY_CODE,
                                   CompanyKind.LABOUR_COMPANY)
        teams = [(wf.ensure_team(session, project_id, (labour if i < 2 else contractor).id, name), trade)
                 for i, (name, trade) in enumerate(TEAMS)]
        companies = {contractor.id: contractor, labour.id: labour}

        punches = []
        seen: set[str] = set()
        for n in range(workers):
            id_number = generate_id_number(rng, rng.choice(REGIONS))
            while id_number in seen:
                id_number = generate_id_number(rng, rng.choice(REGIONS))
            seen.add(id_number)
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            phone = generate_phone(rng)
            bank_name, bin_prefix = rng.choice(BANKS)
            card = generate_card_number(rng, bin_prefix)
            team, trade = teams[n % len(teams)]
            rate_fen = rng.randrange(300, 451, 10) * 100
            entry = first_day - timedelta(days=rng.randrange(1, 90))

            worker = wf.upsert_worker(session, services.cipher, name=name, id_number=id_number, phone=phone)
            wf.set_card(session, services.cipher, worker, bank_name, card)
            wf.enrol(session, project_id=project_id, worker=worker, team=team, company=companies[team.company_id],
                     trade=trade, daily_rate_fen=rate_fen, entry_date=entry)
            punches += _month_of_punches(rng, project_id, worker.id, working_days)
        _insert_new_punches(session, project_id, start, end, punches)


def _month_of_punches(rng: random.Random, project_id: int, worker_id: int, working_days: list[date]) -> list[dict]:
    """A worker's "in" and "out" punch rows for each working day, now and then a day absent."""
    punches = []
    for day in working_days:
        if rng.random() < 0.05:  # an absent day now and then
            continue
        for direction, clock, spread in (("in", IN_AT, (-15, 10)), ("out", OUT_AT, (-5, 40))):
            local = datetime.combine(day, clock) + timedelta(minutes=rng.randint(*spread),
                                                             seconds=rng.randrange(60))
            punches.append({
                "dedupe_key": f"seed:{project_id}:{worker_id}:{day.isoformat()}:{direction}",
                "project_id": project_id, "worker_id": worker_id, "direction": direction,
                "punched_at": _to_utc(local), "device_code": "seed", "created_at": utcnow(),
            })
    return punches


def _insert_new_punches(session, project_id: int, start: datetime, end: datetime, punches: list[dict]) -> None:
    """Insert the punches the month does not have yet (by dedupe key): running again adds nothing."""
    existing = set(session.scalars(select(Punch.dedupe_key).where(
        Punch.project_id == project_id, Punch.punched_at >= start, Punch.punched_at < end,
        Punch.dedupe_key.like(f"seed:{project_id}:%"))))
    missing = [p for p in punches if p["dedupe_key"] not in existing]
    if missing:
        session.execute(insert(Punch), missing)


def _to_utc(local: datetime) -> datetime:
    return local.replace(tzinfo=LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)
