"""ACC-2: the one scoping rule (domain/scope.py) over every scoped model, on SQLite and MariaDB."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from domain import registration as reg
from domain import scope
from domain.models import (
    Account, AccountProject, BankCard, Company, CompanyKind, Enterprise, HumanTask, Project, ProjectWorker,
    Punch, RegistrationApplication, Role, Team, WageAccount, WageLine, WageRun, Worker,
)
from shiming.seed_workforce import seed_workforce
from tests.helpers.factories import create_application

MONTH = "2026-10"


@pytest.fixture
def world(any_db_services):
    """Project A (district 450103, the demo enterprise's), project B (district 450107, no enterprise),
    each with workers, a wage run and lines; a labour company on A with one worker."""
    svc = any_db_services
    app_id, _n, _wf = create_application(svc, district_code="450107")
    with svc.Session.begin() as db:
        a = db.scalar(select(Project).order_by(Project.id))
        enterprise_id = db.scalar(select(Account.enterprise_id).where(Account.username == "enterprise"))
        a.enterprise_id = enterprise_id
        b = reg.approve(db, svc.cipher, db.get(RegistrationApplication, app_id))[0]
        db.get(RegistrationApplication, app_id).project_id = b.id
        db.flush()
        a_id, b_id, a_district, b_district = a.id, b.id, a.district_id, b.district_id
    seed_workforce(svc, a_id, workers=5, month=MONTH)
    seed_workforce(svc, b_id, workers=3, month=MONTH)
    with svc.Session.begin() as db:
        labour = Company(project_id=a_id, name="劳务公司", credit_code="91450100MA5K9XYZ9X", kind=CompanyKind.LABOUR_COMPANY)
        db.add(labour)
        db.flush()
        pw = db.scalars(select(ProjectWorker).where(ProjectWorker.project_id == a_id).order_by(ProjectWorker.id)).first()
        pw.company_id = labour.id
        for pid in (a_id, b_id):
            acct = WageAccount(project_id=pid, bank_code="REF", account_number_enc="x", account_number_hash=f"h{pid}",
                               account_last4="0000", account_name="n", status="bound")
            db.add(acct)
            db.flush()
            run = WageRun(project_id=pid, month=MONTH, workflow_id=f"wr-{pid}", wage_account_id=acct.id)
            db.add(run)
            db.flush()
            for seq, w in enumerate(db.scalars(select(ProjectWorker.worker_id).where(ProjectWorker.project_id == pid)), 1):
                db.add(WageLine(run_id=run.id, seq=seq, worker_id=w, gross_fen=100, net_fen=100))
        return dict(svc=svc, a=a_id, b=b_id, a_district=a_district, b_district=b_district, enterprise=enterprise_id,
                    labour=labour.id, labour_worker=pw.worker_id)


def _seen(svc, the_scope):
    token = scope.activate(the_scope)
    try:
        with svc.Session() as db:
            return {
                "projects": set(db.scalars(select(Project.id))),
                "workers": db.scalar(select(func.count()).select_from(Worker)),
                "engagements": set(db.scalars(select(ProjectWorker.project_id))),
                "cards": db.scalar(select(func.count()).select_from(BankCard)),
                "punch_projects": set(db.scalars(select(Punch.project_id).distinct())),
                "runs": set(db.scalars(select(WageRun.project_id))),
                "lines": db.scalar(select(func.count()).select_from(WageLine)),
                "line_workers": set(db.scalars(select(WageLine.worker_id))),
                "accounts": set(db.scalars(select(WageAccount.project_id))),
                "companies": set(db.scalars(select(Company.project_id))),
                "teams": set(db.scalars(select(Team.project_id))),
                "tasks": db.scalar(select(func.count()).select_from(HumanTask)),
                "applications": set(db.scalars(select(RegistrationApplication.district_id))),
            }
    finally:
        scope.deactivate(token)


def test_a_project_scope_sees_its_project_only(world):
    svc, a, b = world["svc"], world["a"], world["b"]
    seen = _seen(svc, scope.Scope(scope.PROJECTS, project_ids=frozenset({a})))
    assert seen["projects"] == seen["engagements"] == seen["runs"] == seen["accounts"] == seen["teams"] == {a}
    assert seen["punch_projects"] == {a} and seen["companies"] == {a}
    assert seen["workers"] == seen["cards"] == seen["lines"] == 5
    assert seen["tasks"] == 0
    everything = _seen(svc, None)
    assert everything["projects"] == {a, b} and everything["workers"] == 8 and everything["lines"] == 8


def test_get_answers_none_out_of_scope_while_the_record_exists(world):
    svc, a, b = world["svc"], world["a"], world["b"]
    token = scope.activate(scope.Scope(scope.PROJECTS, project_ids=frozenset({a})))
    try:
        with svc.Session() as db:
            b_run = db.scalar(select(WageRun.id).execution_options(**{scope.BYPASS: True})
                              .where(WageRun.project_id == b))
            assert db.get(Project, a) is not None
            assert db.get(Project, b) is None and db.get(WageRun, b_run) is None
            assert scope.exists_unscoped(db, WageRun, b_run) and not scope.exists_unscoped(db, WageRun, 10**9)
            with scope.unscoped():  # a domain operation that must see global facts
                assert db.get(Project, b) is not None
            assert db.get(WageRun, b_run) is None
    finally:
        scope.deactivate(token)


def test_district_enterprise_company_and_none(world):
    svc, a, b = world["svc"], world["a"], world["b"]
    district = _seen(svc, scope.Scope(scope.DISTRICT, district_id=world["b_district"]))
    assert district["projects"] == district["runs"] == {b} and district["workers"] == 3
    assert district["applications"] == {world["b_district"]}
    enterprise = _seen(svc, scope.Scope(scope.ENTERPRISE, enterprise_id=world["enterprise"]))
    assert enterprise["projects"] == enterprise["runs"] == {a} and enterprise["workers"] == 5
    company = _seen(svc, scope.Scope(scope.COMPANY, project_ids=frozenset({a}), company_id=world["labour"]))
    assert company["projects"] == {a} and company["workers"] == company["cards"] == company["lines"] == 1
    assert company["line_workers"] == {world["labour_worker"]} and company["teams"] == {a}
    nothing = _seen(svc, scope.Scope(scope.NONE))
    assert not nothing["projects"] and nothing["workers"] == nothing["lines"] == nothing["tasks"] == 0
    assert _seen(svc, scope.Scope(scope.ALL))["projects"] == {a, b}


def test_each_role_gets_its_scope(world):
    svc, a, b = world["svc"], world["a"], world["b"]
    with svc.Session.begin() as db:
        def account(role, **kw):
            row = Account(username=f"u-{role}-{len(kw)}", display_name=role, password_hash="x", role=role, **kw)
            db.add(row)
            db.flush()
            return row

        allocated = account(Role.PROJECT, project_id=a)
        db.add(AccountProject(account_id=allocated.id, project_id=b))
        db.flush()
        assert scope.scope_of(db, allocated) == scope.Scope(scope.PROJECTS, project_ids=frozenset({a, b}))
        for role in (Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR, Role.SUPERVISOR):
            assert scope.scope_of(db, account(role)).kind == scope.ALL
        assert scope.scope_of(db, account(Role.BUREAU_REVIEWER, district_id=world["b_district"])) == \
            scope.Scope(scope.DISTRICT, district_id=world["b_district"])
        assert scope.scope_of(db, account(Role.BUREAU_CHIEF)).kind == scope.NONE  # no district: nothing
        assert scope.scope_of(db, account(Role.ENTERPRISE, enterprise_id=world["enterprise"])).enterprise_id \
            == world["enterprise"]
        company = account(Role.COMPANY, project_id=a, company_id=world["labour"])
        assert scope.scope_of(db, company) == scope.Scope(scope.COMPANY, project_ids=frozenset({a}),
                                                          company_id=world["labour"])
        assert scope.scope_of(db, account(Role.COMPANY, project_id=a)).kind == scope.NONE
        assert db.get(Enterprise, world["enterprise"]) is not None
