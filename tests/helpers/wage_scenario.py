"""The wage scenario the wage-run tests start from, built through the domain's own functions:

- the demo project's workforce for a month (`seed_workforce`: workers, cards, punches);
- its wage special account, already bound (`bound_wage_account`);
- two payroll specialists with security passwords, `payroll_a` and `payroll_b` (`two_specialists`):
  maker-checker needs two people, one uploads the table, the other submits the wage file;
- a step signed with a specialist's key, ready to send as the update (`signed_step`);
- the reference bank's ledger for it (`bank_ledger`): the account open, every worker's card open
  except the first `closed` ones.

`wage_scenario(services, workers)` does the first three in one call; `open_wage_run` opens the
month's run as `payroll_a`; `lines_after_statement` writes four lines as a statement leaves them.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select

from domain import signing, workforce
from domain.models import Account, Project, ProjectWorker, Role, WageAccount, WageLine, WageLineStatus, WageRun, Worker, utcnow
from domain.passwords import hash_password
from domain.processes.wage_run import SignedStepInput
from domain.services import Services
from domain.wage_run import open_run, sign_step
from shiming.seed_workforce import seed_workforce
from tests.helpers.factories import account_id

MONTH = "2026-10"
WAGE_ACCOUNT = "6222020000012345678"
WAGE_ACCOUNT_NAME = "示范项目农民工工资专用账户"
LOGIN_PASSWORD = "Login2026x"
SECURITY_PASSWORDS = {"payroll_a": "Anquan2026a", "payroll_b": "Anquan2026b"}
TEMPLATE_WORKERS = 8  # the activity tests' prepared home (tests/activities/conftest.py)


def demo_project_id(services: Services) -> int:
    """The seeded demo project (its code starts with P)."""
    with services.Session() as db:
        return db.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))


def wage_account(services: Services, project_id: int, number: str = WAGE_ACCOUNT, name: str = WAGE_ACCOUNT_NAME,
                 status: str = "bound") -> int:
    """A wage special account of the project as its binding left it (encrypted, masked; `status`)."""
    with services.Session.begin() as db:
        row = WageAccount(project_id=project_id, bank_code="REFBANK",
                          account_number_enc=services.cipher.encrypt(number, "account_number"),
                          account_number_hash=services.cipher.lookup_hash(number, "account_number"),
                          account_last4=number[-4:], account_name=name, status=status)
        db.add(row)
        db.flush()
        return row.id


def bound_wage_account(services: Services, project_id: int, number: str = WAGE_ACCOUNT,
                       name: str = WAGE_ACCOUNT_NAME) -> int:
    """The project's wage special account, bound: the account a run pays from."""
    return wage_account(services, project_id, number, name)


def create_payroll_specialist(services: Services, username: str = "payroll", project_id: int | None = None,
                              login_password: str = LOGIN_PASSWORD, security_password: str | None = None,
                              display_name: str | None = None) -> int:
    """A payroll specialist of `project_id` (default: the demo project); optionally with a security
    password. Shown as `display_name` (default 工资专员<username>)."""
    with services.Session.begin() as db:
        if project_id is None:
            project_id = db.scalar(select(Project.id).order_by(Project.id).limit(1))
        project = db.get(Project, project_id)
        account = Account(username=username, display_name=display_name or f"工资专员{username}",
                          password_hash=hash_password(login_password),
                          role=Role.PAYROLL_SPECIALIST, project_id=project_id, district_id=project.district_id,
                          created_at=utcnow())
        db.add(account)
        db.flush()
        new_id = account.id
    if security_password:
        with services.Session.begin() as db:
            signing.set_security_password(db, new_id, security_password)
    return new_id


def two_specialists(services: Services, project_id: int) -> dict[str, int]:
    """`payroll_a` and `payroll_b` of the project (shown as 工资专员A and 工资专员B), each with its security
    password; username → account id."""
    return {username: create_payroll_specialist(services, username, project_id, security_password=password,
                                                display_name=f"工资专员{username[-1].upper()}")
            for username, password in SECURITY_PASSWORDS.items()}


def wage_scenario(services: Services, workers: int, month: str = MONTH) -> dict:
    """Workforce in `month`, a bound wage account and two specialists: {"project_id", "accounts"}."""
    project_id = demo_project_id(services)
    seed_workforce(services, project_id, workers=workers, month=month)
    bound_wage_account(services, project_id)
    return {"project_id": project_id, "accounts": two_specialists(services, project_id)}


def bank_ledger(services: Services, project_id: int, closed: int = 1) -> dict:
    """The reference bank's ledger for the project: its wage account open, each worker's current card
    open in the worker's name, except the first `closed` workers' cards, closed (their lines fail)."""
    cards = []
    with services.Session() as db:
        workers = db.execute(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                             .where(ProjectWorker.project_id == project_id).order_by(Worker.id)).scalars().all()
        for i, worker in enumerate(workers):
            card = workforce.current_card(db, worker.id)
            cards.append({"number": workforce.card_number_of(services.cipher, card), "holder_name": worker.name,
                          "status": "closed" if i < closed else "open"})
    return {"accounts": [{"number": WAGE_ACCOUNT, "name": WAGE_ACCOUNT_NAME, "kind": "wage", "status": "open"}],
            "cards": cards}


def signed_step(services: Services, username: str, run_id: int, step: str, sha: str, file_id: Optional[int] = None,
                batch_version: int = 0, password: Optional[str] = None) -> SignedStepInput:
    """`username` signs `step` of the run over content `sha` with their security password (by default
    theirs in SECURITY_PASSWORDS): the update's input, as the web's signed-step views build it."""
    actor = account_id(services, username)
    signed = sign_step(services.Session, actor, password or SECURITY_PASSWORDS[username], run_id, step, sha)
    return SignedStepInput(run_id=run_id, actor_id=actor, step=step, content_sha256=sha, document=signed.document,
                           signature=signed.signature, signing_key_id=signed.signing_key_id, file_id=file_id,
                           batch_version=batch_version)


def open_wage_run(services: Services, scenario: dict, month: str = MONTH) -> dict:
    """The month's run of the scenario's project, opened by `payroll_a`: {"id", "workflow_id"}."""
    with services.Session.begin() as db:
        run = open_run(db, scenario["project_id"], month, db.get(Account, scenario["accounts"]["payroll_a"]))
        return {"id": run.id, "workflow_id": run.workflow_id}


def lines_after_statement(services: Services, run_id: int) -> list[dict]:
    """Four lines as the process would have left them after the bank's statement: paid, failed
    (card closed), paid, settled (in cash); the run at reconciliation."""
    statuses = [WageLineStatus.PAID, WageLineStatus.FAILED, WageLineStatus.PAID, WageLineStatus.SETTLED]
    out = []
    with services.Session.begin() as db:
        run = db.get(WageRun, run_id)
        workers = db.scalars(select(Worker).join(ProjectWorker, ProjectWorker.worker_id == Worker.id)
                             .where(ProjectWorker.project_id == run.project_id).order_by(Worker.id)).all()
        for seq, (worker, status) in enumerate(zip(workers, statuses), start=1):
            card = workforce.current_card(db, worker.id)
            line = WageLine(run_id=run_id, seq=seq, worker_id=worker.id, gross_fen=500000, net_fen=480050,
                            status=status, batch_version=1, card_id=card.id,
                            failure_code="ACCOUNT_CLOSED" if status == WageLineStatus.FAILED else None,
                            failure_reason="card closed" if status == WageLineStatus.FAILED else None,
                            settled_reason="paid in cash" if status == WageLineStatus.SETTLED else None)
            db.add(line)
            db.flush()
            out.append({"id": line.id, "status": status, "card": workforce.card_number_of(services.cipher, card),
                        "last4": card.last4, "id_number": workforce.id_number_of(services.cipher, worker),
                        "name": worker.name})
        run.step = "reconcile"
    return out
