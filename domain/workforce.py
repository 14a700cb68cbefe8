"""Workers, the companies and teams they work for on a project, and their payroll cards.

ID numbers, phones and card numbers are stored only encrypted (`*_enc`, context = kind) with a
keyed hash (`*_hash`) for exact look-ups; the plaintext exists only in memory. Whatever is shown,
exported or logged goes through `masked_worker_view` or the masks in `domain.rules`.
"""
from __future__ import annotations

from datetime import date
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import scope
from .models import BankCard, Company, ProjectWorker, Team, Worker, utcnow
from .processes.worker_exit import EngagementStatus
from .pii import PiiCipher
from .rules import (
    birth_date_of,
    gender_of,
    id_number_problems,
    is_valid_card_number,
    is_valid_mobile,
    mask_id_number,
    mask_phone,
    normalize_card_number,
    normalize_credit_code,
    normalize_id_number,
    normalize_mobile,
)

# encryption context and look-up hash kind of each PII column
ID_NUMBER = "id_number"
PHONE = "phone"
CARD_NUMBER = "card_number"


def id_number_hash(cipher: PiiCipher, id_number: str) -> str:
    return cipher.lookup_hash(normalize_id_number(id_number), ID_NUMBER)


def phone_hash(cipher: PiiCipher, phone: str) -> str:
    return cipher.lookup_hash(normalize_mobile(phone), PHONE)


def card_number_hash(cipher: PiiCipher, card_number: str) -> str:
    return cipher.lookup_hash(normalize_card_number(card_number), CARD_NUMBER)


def find_worker(session: Session, cipher: PiiCipher, id_number: str) -> Optional[Worker]:
    return session.scalar(select(Worker).where(Worker.id_number_hash == id_number_hash(cipher, id_number)))


@scope.unscoped()  # one person across projects, found by ID number
def upsert_worker(session: Session, cipher: PiiCipher, *, name: str, id_number: str,
                  phone: Optional[str] = None) -> Worker:
    """The worker with this ID number, created or updated; `phone=None` keeps the stored phone.

    Raises ValueError for an invalid ID number or phone.
    """
    id_number = normalize_id_number(id_number)
    problems = id_number_problems(id_number)
    if problems:
        raise ValueError(f"invalid ID number: {', '.join(problems)}")
    if phone is not None and not (phone.isascii() and is_valid_mobile(phone)):
        raise ValueError("invalid mobile number")
    name = name.strip()
    if not name:
        raise ValueError("name is required")
    worker = find_worker(session, cipher, id_number)
    if worker is None:
        worker = Worker(
            id_number_enc=cipher.encrypt(id_number, ID_NUMBER),
            id_number_hash=id_number_hash(cipher, id_number),
            gender=gender_of(id_number),
            birth_date=birth_date_of(id_number),
            created_at=utcnow(),
        )
        session.add(worker)
    worker.name = name
    if phone is not None:
        phone = normalize_mobile(phone)
        if worker.phone_hash != phone_hash(cipher, phone):
            worker.phone_enc = cipher.encrypt(phone, PHONE)
            worker.phone_hash = phone_hash(cipher, phone)
    session.flush()
    return worker


def id_number_of(cipher: PiiCipher, worker: Worker) -> str:
    """The full ID number: only for roles and processes that need it (bank files, the worker)."""
    return cipher.decrypt(worker.id_number_enc, ID_NUMBER)


def phone_of(cipher: PiiCipher, worker: Worker) -> Optional[str]:
    return cipher.decrypt(worker.phone_enc, PHONE) if worker.phone_enc else None


@scope.unscoped()
def set_card(session: Session, cipher: PiiCipher, worker: Worker, bank_name: str, card_number: str) -> BankCard:
    """Make `card_number` the worker's current payroll card; the previous one is kept, replaced.

    Setting the card that is already current changes nothing but the bank name.
    """
    card_number = normalize_card_number(card_number)
    if not is_valid_card_number(card_number):
        raise ValueError("invalid bank card number")
    bank_name = bank_name.strip()
    if not bank_name:
        raise ValueError("bank name is required")
    digest = card_number_hash(cipher, card_number)
    current = current_card(session, worker.id)
    if current is not None and current.card_number_hash == digest:
        current.bank_name = bank_name
        return current
    now = utcnow()
    if current is not None:
        current.is_current, current.replaced_at = False, now
    card = BankCard(
        worker_id=worker.id, bank_name=bank_name,
        card_number_enc=cipher.encrypt(card_number, CARD_NUMBER), card_number_hash=digest,
        last4=card_number[-4:], is_current=True, created_at=now,
    )
    session.add(card)
    session.flush()
    return card


def current_card(session: Session, worker_id: int) -> Optional[BankCard]:
    return session.scalar(
        select(BankCard).where(BankCard.worker_id == worker_id, BankCard.is_current.is_(True))
        .order_by(BankCard.id.desc()).limit(1)
    )


def current_cards(session: Session, worker_ids: Iterable[int]) -> dict[int, BankCard]:
    """Worker id -> current card, for many workers in a few queries (workers without one are absent)."""
    ids = sorted(set(worker_ids))
    cards: dict[int, BankCard] = {}
    for start in range(0, len(ids), 500):
        for card in session.scalars(
            select(BankCard).where(BankCard.worker_id.in_(ids[start:start + 500]), BankCard.is_current.is_(True))
            .order_by(BankCard.id)
        ):
            cards[card.worker_id] = card  # the newest wins, as in current_card
    return cards


def card_number_of(cipher: PiiCipher, card: BankCard) -> str:
    return cipher.decrypt(card.card_number_enc, CARD_NUMBER)


def ensure_company(session: Session, project_id: int, name: str, credit_code: str, kind: str) -> Company:
    """The project's company with this credit code, created when missing."""
    credit_code = normalize_credit_code(credit_code)
    company = session.scalar(
        select(Company).where(Company.project_id == project_id, Company.credit_code == credit_code)
    )
    if company is None:
        company = Company(project_id=project_id, name=name.strip(), credit_code=credit_code, kind=kind,
                          created_at=utcnow())
        session.add(company)
        session.flush()
    return company


def ensure_team(session: Session, project_id: int, company_id: int, name: str) -> Team:
    """The project's team of this name, created under `company_id` when missing."""
    name = name.strip()
    team = session.scalar(select(Team).where(Team.project_id == project_id, Team.name == name))
    if team is None:
        team = Team(project_id=project_id, company_id=company_id, name=name, created_at=utcnow())
        session.add(team)
        session.flush()
    return team


def enrol(session: Session, *, project_id: int, worker: Worker, team: Team, company: Company, trade: str,
          daily_rate_fen: int, entry_date: date) -> ProjectWorker:
    """The worker's engagement on the project: one per (project, worker); enrolling again updates
    team, company, trade, rate and entry date."""
    pw = session.scalar(
        select(ProjectWorker).where(ProjectWorker.project_id == project_id, ProjectWorker.worker_id == worker.id)
    )
    if pw is None:
        pw = ProjectWorker(project_id=project_id, worker_id=worker.id, status=EngagementStatus.ACTIVE, created_at=utcnow())
        session.add(pw)
    pw.team_id, pw.company_id = team.id, company.id
    pw.trade, pw.daily_rate_fen, pw.entry_date = trade, daily_rate_fen, entry_date
    session.flush()
    return pw


def masked_worker_view(cipher: PiiCipher, worker: Worker) -> dict:
    """What a screen, export or log may show of a worker: every identifier masked."""
    phone = phone_of(cipher, worker)
    return {
        "id": worker.id,
        "name": worker.name,
        "id_number_masked": mask_id_number(id_number_of(cipher, worker)),
        "phone_masked": mask_phone(phone) if phone else None,
        "gender": worker.gender,
        "birth_date": worker.birth_date,
    }
