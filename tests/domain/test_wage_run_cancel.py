"""What cancelling a wage run closes in the database (domain.wage_run.cancel_run), and opening its
month again. The process side (refusals in the workflow, the admin pages) is in
tests/workflows/test_admin_cancel.py."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from domain import worker_exit as wx
from domain.models import Account, AuditLog, BankBatch, Project, ProjectWorker, WageAccount, WageLine, WageLineStatus, WageRun
from domain.wage_run import WageRunError, cancel_run, open_run
from shiming.seed_workforce import seed_workforce

MONTH = "2026-10"
S = WageLineStatus


@pytest.fixture
def site(services):
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).order_by(Project.id).limit(1))
    seed_workforce(services, project_id, workers=5, month=MONTH)
    with services.Session.begin() as db:
        db.add(WageAccount(project_id=project_id, bank_code="REFBANK", account_number_enc="x", account_number_hash="x",
                           account_last4="0000", account_name="工资专户", status="bound"))
    return project_id


def _open(services, project_id, statuses=()) -> int:
    with services.Session.begin() as db:
        actor = db.scalar(select(Account).where(Account.username == "project"))
        run = open_run(db, project_id, MONTH, actor)
        workers = list(db.scalars(select(ProjectWorker.worker_id).where(ProjectWorker.project_id == project_id)
                                  .order_by(ProjectWorker.id)))
        for seq, (status, worker_id) in enumerate(zip(statuses, workers), start=1):
            db.add(WageLine(run_id=run.id, seq=seq, worker_id=worker_id, gross_fen=100_00, net_fen=90_00,
                            status=status))
        return run.id


def _statuses(services, run_id) -> list[str]:
    with services.Session() as db:
        return list(db.scalars(select(WageLine.status).where(WageLine.run_id == run_id).order_by(WageLine.seq)))


def test_unpaid_lines_are_cancelled_paid_and_settled_stay_and_the_reason_is_audited(services, site):
    run_id = _open(services, site, [S.PENDING, S.FAILED, S.PAID, S.SETTLED])
    with services.Session.begin() as db:
        assert cancel_run(db, run_id, " 重复开启 ", db.scalar(select(Account.id).where(Account.username == "admin")))
    assert _statuses(services, run_id) == [S.CANCELLED, S.CANCELLED, S.PAID, S.SETTLED]
    with services.Session() as db:
        assert db.get(WageRun, run_id).status == "cancelled"
        [row] = db.scalars(select(AuditLog).where(AuditLog.action == "wage_run.cancel"))
        assert row.reason == "重复开启" and row.actor_name == "系统管理员"
        # the cancelled lines owe nothing to the workers
        pw = db.scalar(select(ProjectWorker).where(ProjectWorker.project_id == site).order_by(ProjectWorker.id))
        assert wx.unpaid_lines(db, site, pw.worker_id) == []
    with services.Session.begin() as db:  # again: nothing changes, nothing is audited twice
        assert cancel_run(db, run_id, "again") is False
    with services.Session() as db:
        assert len(db.scalars(select(AuditLog).where(AuditLog.action == "wage_run.cancel")).all()) == 1


def test_refused_with_money_in_flight_and_for_a_completed_run(services, site):
    run_id = _open(services, site, [S.SUBMITTED, S.SUBMITTED])
    with services.Session.begin() as db:
        db.add(BankBatch(run_id=run_id, version=1, batch_id="WR00000001V001", line_count=2, total_fen=180_00,
                         status="submitted"))
    with services.Session.begin() as db, pytest.raises(WageRunError) as refused:
        cancel_run(db, run_id, "x")
    assert refused.value.code == "money_in_flight"
    assert _statuses(services, run_id) == [S.SUBMITTED, S.SUBMITTED]
    with services.Session.begin() as db:
        db.get(WageRun, run_id).status = "completed"
        db.scalar(select(BankBatch)).status = "answered"
    with services.Session.begin() as db, pytest.raises(WageRunError) as refused:
        cancel_run(db, run_id, "x")
    assert refused.value.code == "finished"
    with services.Session() as db:
        assert db.scalars(select(AuditLog).where(AuditLog.action == "wage_run.cancel")).all() == []


def test_a_cancelled_month_opens_again_with_its_own_workflow_id(services, site):
    first = _open(services, site, [S.PENDING])
    with services.Session.begin() as db:
        cancel_run(db, first, "错了")
    second = _open(services, site)
    with pytest.raises(WageRunError) as refused:  # one live run per month
        _open(services, site)
    assert refused.value.code == "run_exists"
    with services.Session.begin() as db:
        cancel_run(db, second, "又错了")
    third = _open(services, site)
    with services.Session() as db:
        ids = [db.get(WageRun, i).workflow_id for i in (first, second, third)]
    assert ids[1] == ids[0] + "-r2" and ids[2] == ids[0] + "-r3"
