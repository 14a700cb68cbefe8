"""Demo data for wage payment: workforce with a month of attendance, a bound wage account, two
payroll specialists with security passwords, and the reference bank's matching ledger.

Idempotent. Kept apart from `seed_demo` because the tests that only need accounts should not pay
for a workforce.
"""
from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from sqlalchemy import select

from domain import signing, wage_account, workforce
from domain.models import Account, Project, ProjectWorker, Role, WageAccount, Worker, utcnow
from domain.passwords import hash_password
from domain.processes.account_binding import agreement_document, parse_agreement_document
from domain.services import Services
from shiming.seed_workforce import seed_workforce

WAGE_ACCOUNT_NUMBER = "6222020000012345678"
WAGE_ACCOUNT_NAME = "青秀区示范安置房项目农民工工资专用账户"
# username, login password, security password, display name
SPECIALISTS = [
    ("payroll", "Payroll2026!", "Anquan2026a", "工资专员 周制表"),
    ("payroll2", "Payroll2026!", "Anquan2026b", "工资专员 吴复核"),
]


def previous_month(today: date) -> str:
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def bind_demo_account(services: Services, project_id: int) -> None:
    """The demo wage account, bound through the same domain steps as PAY-2 (the seeded bank ledger holds
    it, so the bank's check is taken as given): the first specialist signs the agreement."""
    with services.Session() as session:
        if session.scalar(select(WageAccount.id).where(WageAccount.project_id == project_id)) is not None:
            return
        actor_id = session.scalar(select(Account.id).where(Account.username == SPECIALISTS[0][0]))
    key = signing.unlock(services.Session, actor_id, SPECIALISTS[0][2])
    with services.Session.begin() as session:
        actor = session.get(Account, actor_id)
        row = wage_account.start_binding(session, services.cipher, project_id=project_id, actor=actor,
                                         bank_code="REFBANK", account_number=WAGE_ACCOUNT_NUMBER,
                                         account_name=WAGE_ACCOUNT_NAME)
        document = agreement_document(wage_account_id=row.id, actor_id=actor_id, accepted_at=utcnow())
        wage_account.bind(session, row, actor, parse_agreement_document(document).accepted_at,
                          signing.sign(key, document), key.key_id)


def write_private_file(path: Path, data: bytes) -> None:
    """`data` at `path`, mode 0600 in a 0700 directory: the bank's ledger holds full card numbers, so it
    lives in the bank's own home, never under the platform's SHIMING_HOME."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def seed_payroll_demo(services: Services, ledger_path: Path, workers: int = 30) -> list[tuple[str, str, str]]:
    """Returns the demo logins it adds (username, password, role) and writes the bank's ledger."""
    with services.Session() as session:
        project = session.scalar(select(Project).where(Project.code.like("P%")).order_by(Project.id))
    month = previous_month(utcnow().replace(tzinfo=None).date())
    seed_workforce(services, project.id, workers=workers, month=month)
    with services.Session.begin() as session:
        new = []
        for username, password, _sec, display in SPECIALISTS:
            if session.scalar(select(Account).where(Account.username == username)) is None:
                session.add(Account(username=username, display_name=display, password_hash=hash_password(password),
                                    role=Role.PAYROLL_SPECIALIST, project_id=project.id,
                                    district_id=project.district_id, created_at=utcnow()))
                new.append(username)
    for username, _pw, security_password, _d in SPECIALISTS:
        if username in new:
            with services.Session.begin() as session:
                account_id = session.scalar(select(Account.id).where(Account.username == username))
                signing.set_security_password(session, account_id, security_password)
    bind_demo_account(services, project.id)
    with services.Session() as session:
        rows = session.execute(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                               .where(ProjectWorker.project_id == project.id).order_by(Worker.id)).scalars().all()
        cards = []
        for i, worker in enumerate(rows):
            card = workforce.current_card(session, worker.id)
            if card is not None:
                # one closed card, so the demo shows a failed line and its re-issue
                cards.append({"number": workforce.card_number_of(services.cipher, card), "holder_name": worker.name,
                              "status": "closed" if i == 0 else "open"})
    write_private_file(ledger_path, json.dumps({
        "accounts": [{"number": WAGE_ACCOUNT_NUMBER, "name": WAGE_ACCOUNT_NAME, "kind": "wage", "status": "open"}],
        "cards": cards}, ensure_ascii=False).encode("utf-8"))
    return [(u, f"{p} (security password {s})", Role.PAYROLL_SPECIALIST) for u, p, s, _d in SPECIALISTS]
