"""The enterprise's maker-checker setting (PAY-4): saved with an audit row, followed by runs opened later."""
from __future__ import annotations

from sqlalchemy import select

from domain.models import Account, AuditLog, Enterprise, Project, WageRun
from tests.helpers.wage_scenario import MONTH
from tests.helpers.web_app import as_english, enter_session, page_text
from domain.processes.wage_run import WageRunInput


def _enterprise_of(services, username: str = "enterprise") -> int:
    with services.Session() as db:
        return db.scalar(select(Account.enterprise_id).where(Account.username == username))


def _own_project(services, platform) -> None:
    with services.Session.begin() as db:
        db.get(Project, platform["project_id"]).enterprise_id = _enterprise_of(services)


def test_only_the_enterprise_reaches_its_settings(client, services):
    for username in ("project", "reviewer", "admin"):
        other = client.application.test_client()
        enter_session(other, services, username)
        assert other.get("/enterprise/settings").status_code == 403
    as_english(client, services, "enterprise")
    page = page_text(client, "/enterprise/settings")
    assert 'data-maker-checker="on"' in page and 'id="nav-enterprise-settings"' in page


def test_turning_maker_checker_off_is_audited_and_new_runs_follow_it(client, services, platform, bridge):
    _own_project(services, platform)
    as_english(client, services, "enterprise")
    response = client.post("/enterprise/settings", data={})  # an unticked box is absent from the form
    assert response.status_code == 302
    assert 'data-maker-checker="off"' in page_text(client, "/enterprise/settings")
    enterprise_id = _enterprise_of(services)
    with services.Session() as db:
        assert db.get(Enterprise, enterprise_id).maker_checker is False
        rows = db.scalars(select(AuditLog).where(AuditLog.action == "enterprise.maker_checker")).all()
        assert [(r.target_id, r.detail) for r in rows] == [(str(enterprise_id), '{"required": false}')]
    client.post("/enterprise/settings", data={})  # no change: no second audit row
    with services.Session() as db:
        assert db.scalar(select(AuditLog.id).where(AuditLog.action == "enterprise.maker_checker")
                         .order_by(AuditLog.id.desc())) == rows[0].id

    payroll = client.application.test_client()
    as_english(payroll, services, "payroll_a")
    assert payroll.post("/payroll/open", data={"month": MONTH}).status_code == 302
    with services.Session() as db:
        run_id = db.scalar(select(WageRun.id).where(WageRun.project_id == platform["project_id"]))
    assert bridge.client.started[-1]["arg"] == WageRunInput(run_id, maker_checker=False)

    client.post("/enterprise/settings", data={"maker_checker": "y"})
    with services.Session() as db:
        assert db.get(Enterprise, enterprise_id).maker_checker is True
