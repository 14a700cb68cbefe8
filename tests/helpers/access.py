"""Every route's access entry (who may reach it), the URL filler and the two worlds the access tests
walk: `case` (one object of each kind, all inside the scope) and `world` (two projects in two
districts: the objects each role has inside and outside its scope). Used by tests/web/test_access.py,
test_csrf.py and test_pii_sweep.py."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from domain.models import RegistrationStatus, Role
from tests.helpers.web_app import create_registration

PUBLIC = "public"
DEVICE = "signed by a registered device"  # no session counts: every caller without a signature gets 401
LOGGED_IN = "any logged-in account"
BUREAU = set(Role.BUREAU)
PAYROLL = {Role.PAYROLL_SPECIALIST}
MANAGERS = {Role.ADMIN, Role.SECURITY_ADMIN, Role.ENTERPRISE, Role.PROJECT}
ATTENDANCE = {Role.PROJECT, Role.PAYROLL_SPECIALIST, Role.COMPANY, Role.ENTERPRISE, *Role.BUREAU}

# rule → who may reach it. A new rule without an entry fails test_every_rule_has_an_access_entry.
ACCESS = {
    "/": PUBLIC,
    "/login": PUBLIC,
    "/login/key": PUBLIC,
    "/login/key/challenge": PUBLIC,
    "/account/usb-key": {Role.ENTERPRISE},
    "/account/usb-key/challenge": {Role.ENTERPRISE},
    "/lang/<code>": PUBLIC,
    "/logout": LOGGED_IN,
    "/password": LOGGED_IN,
    "/register/": PUBLIC,
    "/register/status": PUBLIC,
    "/register/<token>/": PUBLIC,
    "/register/<token>/application.docx": PUBLIC,
    "/register/<token>/upload": PUBLIC,
    "/register/<token>/submit": PUBLIC,
    "/register/<token>/correct": PUBLIC,
    "/api/bank/statements": PUBLIC,  # authenticated by the bank's signature (tests/e2e)
    "/api/attendance/v1/punches": DEVICE,  # tests/attendance/test_punch_api.py
    "/api/attendance/v1/gaps": DEVICE,
    "/api/attendance/v1/templates": DEVICE,  # tests/web/test_attendance_templates.py
    "/api/attendance/v1/openapi.yaml": PUBLIC,
    "/attendance/": {Role.PROJECT},
    "/attendance/projects/<int:project_id>/devices": {Role.PROJECT},
    "/attendance/devices/<int:device_id>/revoke": {Role.PROJECT},
    "/attendance/quarantine/<int:quarantine_id>/resolve": {Role.PROJECT},
    # attendance statistics, corrections and flags (web/attendance/): the project's readers
    "/attendance/project/<int:project_id>/statistics": ATTENDANCE,
    "/attendance/project/<int:project_id>/statistics/<day>": ATTENDANCE,
    "/attendance/project/<int:project_id>/statistics/report.<any(xlsx, docx):kind>": ATTENDANCE,
    "/attendance/project/<int:project_id>/photos/<day>": ATTENDANCE,
    "/attendance/photo/<int:punch_id>": ATTENDANCE,
    "/attendance/project/<int:project_id>/corrections": ATTENDANCE,
    "/attendance/correction/<int:correction_id>/<any(approve, refuse):decision>": ATTENDANCE,
    "/attendance/project/<int:project_id>/flags": ATTENDANCE,
    "/attendance/flags": ATTENDANCE,
    "/bureau/inbox": BUREAU,
    "/bureau/task/<int:task_id>": BUREAU,
    "/bureau/task/<int:task_id>/scan": BUREAU,
    "/bureau/task/<int:task_id>/application.docx": BUREAU,
    "/bureau/task/<int:task_id>/<any(claim, unclaim, approve, reject, return):action>": BUREAU,
    "/project/": {Role.PROJECT, Role.ENTERPRISE, Role.SUPERVISOR, Role.COMPANY},
    "/project/workers": {Role.PROJECT, Role.COMPANY},
    "/project/workers/<int:pw_id>": {Role.PROJECT, Role.COMPANY},
    "/project/workers/<int:pw_id>/exit": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit/start": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit/recheck": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit/cancel": {Role.PROJECT},
    "/project/workers/<int:pw_id>/card": {Role.PROJECT},
    "/project/roster": {Role.PROJECT},  # and a company account with "collect"
    "/project/roster/template.xlsx": {Role.PROJECT},
    "/project/roster/errors.xlsx": {Role.PROJECT},
    "/enterprise/settings": {Role.ENTERPRISE},
    "/accounts/": MANAGERS,
    "/accounts/new": {Role.ADMIN, Role.ENTERPRISE, Role.PROJECT},  # the security admin creates no accounts
    "/accounts/<int:account_id>": MANAGERS,
    "/accounts/<int:account_id>/projects": MANAGERS,
    "/accounts/<int:account_id>/permissions": MANAGERS,
    "/accounts/<int:account_id>/<any(disable, enable):change>": MANAGERS,
    "/accounts/<int:account_id>/unlock": {Role.SECURITY_ADMIN},
    "/accounts/<int:account_id>/usb-key/remove": {Role.SECURITY_ADMIN},
    "/accounts/<int:account_id>/reset-password": MANAGERS,
    "/audit/": {Role.AUDITOR},
    "/audit/verify": {Role.AUDITOR},
    "/admin/": {Role.ADMIN},
    "/admin/process/<workflow_id>": {Role.ADMIN},
    "/admin/process/<workflow_id>/cancel": {Role.ADMIN},
    "/admin/process/<workflow_id>/retry": {Role.ADMIN},
    "/payroll/": PAYROLL,
    "/payroll/open": PAYROLL,
    "/payroll/security-password": PAYROLL,
    "/payroll/run/<int:run_id>": PAYROLL,
    "/payroll/run/<int:run_id>/table.xlsx": PAYROLL,
    "/payroll/run/<int:run_id>/errors.xlsx": PAYROLL,
    "/payroll/run/<int:run_id>/accepted-table.xlsx": PAYROLL,
    "/payroll/run/<int:run_id>/sign-sheet.docx": PAYROLL,
    "/payroll/run/<int:run_id>/sheet": PAYROLL,
    "/payroll/run/<int:run_id>/wage-file/<int:version>": PAYROLL,
    "/payroll/run/<int:run_id>/batch/<int:version>": PAYROLL,
    "/payroll/run/<int:run_id>/wage-table": PAYROLL,
    "/payroll/run/<int:run_id>/signed-sheet": PAYROLL,
    "/payroll/run/<int:run_id>/wage-file": PAYROLL,
    "/payroll/run/<int:run_id>/reissue": PAYROLL,
    "/payroll/run/<int:run_id>/start": PAYROLL,
    "/payroll/run/<int:run_id>/line/<int:line_id>/settle": PAYROLL,
    "/payroll/accounts": PAYROLL,
    "/payroll/accounts/add": PAYROLL,
    "/payroll/accounts/<int:account_id>": PAYROLL,
    "/payroll/accounts/<int:account_id>/accept": PAYROLL,
    "/payroll/accounts/<int:account_id>/start": PAYROLL,
    # enrolment: the project account, and a company account with "collect" (the matrix's has none)
    "/enrolment/": {Role.PROJECT},
    "/enrolment/new/<int:project_id>": {Role.PROJECT},
    "/enrolment/<int:enrolment_id>": {Role.PROJECT},
    "/enrolment/<int:enrolment_id>/duplicate": {Role.PROJECT},
    "/enrolment/<int:enrolment_id>/contract.docx": {Role.PROJECT},
    "/enrolment/<int:enrolment_id>/contract-scan": {Role.PROJECT},
    "/enrolment/<int:enrolment_id>/training": {Role.PROJECT},
}

USER_OF_ROLE = {
    Role.ADMIN: "admin",
    Role.BUREAU_REVIEWER: "reviewer",
    Role.BUREAU_CHIEF: "chief",
    Role.ENTERPRISE: "enterprise",
    Role.PROJECT: "project",
    Role.PAYROLL_SPECIALIST: "payroll",  # not a demo account: made by the tests that use this table
    Role.SECURITY_ADMIN: "secadmin",
    Role.AUDITOR: "auditor",
    Role.SUPERVISOR: "supervisor",
    Role.COMPANY: "company_in",  # made by the `case` / `world` fixtures
}


def rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def fill(rule: str, case: dict) -> str:
    values = {"token": case["token"], "task_id": case["task_id"], "workflow_id": case["workflow_id"],
              "code": "en", "action": "claim", "change": "disable", "run_id": case.get("run_id", 1), "version": 1,
              "line_id": case.get("line_id", 1), "account_id": case.get("account_id", 1),
              "pw_id": case.get("pw_id", 1), "project_id": case.get("project_id", 1),
              "enrolment_id": case.get("enrolment_id", 1), "device_id": 1, "quarantine_id": 1, "day": "2026-10-09",
              "kind": "xlsx", "punch_id": 1, "correction_id": 1, "decision": "approve"}
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>|<any\([^)]*\):([a-z_]+)>",
                  lambda m: str(values[m.group(1) or m.group(2)]), rule)


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].split("?")[0].endswith("/login")


def allowed(entry, role: str) -> bool:
    return entry in (PUBLIC, LOGGED_IN) or role in entry


@pytest.fixture
def case(services, bridge):
    """A scan-carrying application of the reviewer's district with its open task."""
    from tests.helpers.web_app import tiny_pdf

    c = create_registration(services, status=RegistrationStatus.RETURNED)
    with services.Session.begin() as db:
        from domain.models import RegistrationApplication

        app = db.get(RegistrationApplication, c["id"])
        app.scan_file_id = services.blobs.store_scan(db, tiny_pdf(), 10_000, "scan").id
    c["run_id"] = create_payroll_run(services)
    with services.Session.begin() as db:
        from domain.models import Account, Company, CompanyKind, Project

        project_id = db.scalar(select(Project.id).order_by(Project.id))
        company = Company(project_id=project_id, name="劳务", credit_code="91450100MA5K9XIN1X", kind=CompanyKind.LABOUR_COMPANY)
        db.add(company)
        db.flush()
        db.add(Account(username="company_in", display_name="劳务账号", password_hash="x", role=Role.COMPANY,
                       project_id=project_id, company_id=company.id, can_login=True))
        # the object of the /accounts/<id>/… routes: disabling or resetting it harms no account of the matrix
        target = Account(username="matrix_target", display_name="靶账号", password_hash="x", role=Role.BUREAU_REVIEWER,
                         district_id=db.scalar(select(Account.district_id).where(Account.username == "reviewer")))
        db.add(target)
        db.flush()
        c["account_id"] = target.id
    return c


def create_payroll_run(services) -> int:
    """The "payroll" specialist of the demo project and an open wage run of that project."""
    from domain.models import Account, WageAccount, WageRun
    from tests.helpers.wage_scenario import create_payroll_specialist

    create_payroll_specialist(services, "payroll")
    with services.Session.begin() as db:
        account = db.scalar(select(Account).where(Account.username == "payroll"))
        wage_account = WageAccount(project_id=account.project_id, bank_code="REFBANK", account_number_enc="x",
                                   account_number_hash="x", account_last4="0000", account_name="工资专户",
                                   status="bound")
        db.add(wage_account)
        db.flush()
        run = WageRun(project_id=account.project_id, month="2026-10", workflow_id="wage-run-access-2026-10",
                      wage_account_id=wage_account.id)
        db.add(run)
        db.flush()
        return run.id


# rules whose object comes from the caller's scope: the prefix names the object's kind
OBJECT_KINDS = (
    ("/bureau/task/<int:task_id>", "task"),
    ("/payroll/run/<int:run_id>", "run"),
    ("/payroll/accounts/<int:account_id>", "wage_account"),
    ("/project/workers/<int:pw_id>", "engagement"),
    ("/accounts/<int:account_id>", "account"),
    ("/enrolment/new/<int:project_id>", "project"),
    ("/enrolment/<int:enrolment_id>", "enrolment"),
    ("/attendance/project/<int:project_id>", "project"),
)
# these must answer 200 for an object inside the scope (the others may lack a sub-object: a 404
# there is fine as long as it is not a scope refusal, which the audit row tells apart)
DETAIL_PAGES = {"/bureau/task/<int:task_id>", "/payroll/run/<int:run_id>", "/payroll/accounts/<int:account_id>",
                "/project/workers/<int:pw_id>", "/accounts/<int:account_id>", "/enrolment/<int:enrolment_id>",
                "/enrolment/new/<int:project_id>"}


def object_kind(rule: str):
    for prefix, kind in OBJECT_KINDS:
        if rule.startswith(prefix):
            return kind
    return None


@pytest.fixture
def world(services, bridge):
    """Two projects in two districts, each with a review task, a wage run with a line, a wage account,
    workers and a company account; the objects each role has inside and outside its scope."""
    from domain import registration as reg
    from domain.models import (
        Account, Company, CompanyKind, Project, ProjectWorker, RegistrationApplication, WageAccount, WageLine, WageRun,
    )
    from domain import enrolment as enr
    from domain.workforce import ensure_team
    from shiming.seed_workforce import seed_workforce

    inside_task = create_registration(services)
    outside_task = create_registration(services, district_code="450107", phone="13912345679")
    other_app = create_registration(services, district_code="450107", phone="13912345670")
    with services.Session.begin() as db:
        a = db.scalar(select(Project).order_by(Project.id))
        enterprise = db.scalar(select(Account).where(Account.username == "enterprise"))
        a.enterprise_id = enterprise.enterprise_id
        b, b_account, _pw = reg.approve(db, services.cipher, db.get(RegistrationApplication, other_app["id"]))
        db.flush()
        a_id, b_id, b_account_id = a.id, b.id, b_account.id
    seed_workforce(services, a_id, workers=2, month="2026-10")
    seed_workforce(services, b_id, workers=2, month="2026-10")
    create_payroll_run(services)
    objects = {}
    with services.Session.begin() as db:
        for key, pid in (("in", a_id), ("out", b_id)):
            wa = db.scalar(select(WageAccount).where(WageAccount.project_id == pid))
            if wa is None:
                wa = WageAccount(project_id=pid, bank_code="REFBANK", account_number_enc="x", account_number_hash="x",
                                 account_last4="0000", account_name="工资专户", status="bound")
                db.add(wa)
                db.flush()
            run = db.scalar(select(WageRun).where(WageRun.project_id == pid))
            if run is None:
                run = WageRun(project_id=pid, month="2026-10", workflow_id=f"wage-run-other-{pid}", wage_account_id=wa.id)
                db.add(run)
                db.flush()
            pw = db.scalars(select(ProjectWorker).where(ProjectWorker.project_id == pid)).first()
            line = WageLine(run_id=run.id, seq=1, worker_id=pw.worker_id, gross_fen=100, net_fen=100)
            company = Company(project_id=pid, name=f"劳务{key}", credit_code=f"91450100MA5K9X{key.upper():>3}1X"[:18],
                              kind=CompanyKind.LABOUR_COMPANY)
            db.add_all([line, company])
            db.flush()
            pw.company_id = company.id  # the company account's own worker: inside its scope
            company_account = Account(username=f"company_{key}", display_name="劳务账号", password_hash="x",
                                      role=Role.COMPANY, project_id=pid, company_id=company.id, can_login=True)
            db.add(company_account)
            db.flush()
            team = ensure_team(db, pid, company.id, "采集班组")
            enrolment = enr.start_enrolment(db, services.cipher, pid, db.scalar(select(Account).where(
                Account.username == "project")), enrolment_record(team, key))
            objects[key] = {"run_id": run.id, "line_id": line.id, "wage_account": wa.id, "pw_id": pw.id,
                            "company_account": company_account.id, "project_id": pid, "enrolment_id": enrolment.id}
        db.add(Account(username="pm_in", display_name="项目账号", password_hash="x", role=Role.PROJECT,
                       project_id=a_id, enterprise_id=enterprise.enterprise_id))  # the enterprise manages it
        db.flush()
        ids = {u: db.scalar(select(Account.id).where(Account.username == u))
               for u in ("reviewer2", "enterprise", "project", "secadmin", "pm_in")}
    base = {"token": inside_task["token"], "workflow_id": inside_task["workflow_id"], "code": "en",
            "action": "claim", "change": "disable", "version": 1, "day": "2026-10-09", "kind": "xlsx",
            "punch_id": 1, "correction_id": 1, "decision": "approve"}
    # the account a role manages (inside) and one it does not (outside)
    managed = {Role.ADMIN: (ids["reviewer2"], b_account_id),  # the administrator manages enterprise accounts (ACC-6)
               Role.SECURITY_ADMIN: (ids["reviewer2"], ids["secadmin"]),
               Role.ENTERPRISE: (ids["pm_in"], b_account_id),
               Role.PROJECT: (objects["in"]["company_account"], objects["out"]["company_account"])}

    def values(role: str, where: str, kind: str) -> dict:
        o = objects[where]
        v = dict(base, task_id=(inside_task if where == "in" else outside_task)["task_id"], run_id=o["run_id"],
                 line_id=o["line_id"], pw_id=o["pw_id"], project_id=o["project_id"], enrolment_id=o["enrolment_id"])
        if kind == "account":
            v["account_id"] = managed.get(role, (ids["project"], ids["project"]))[0 if where == "in" else 1]
        else:
            v["account_id"] = o["wage_account"]
        return v

    return values


def enrolment_record(team, key: str):
    from datetime import date

    from domain import enrolment as enr
    from tests.helpers.identities import id_number_for

    return enr.EnrolmentRecord(name="采集" + key, id_number=id_number_for("450103", date(1980, 1, 1), 300 + len(key)),
                               phone="13800138000", trade="020", company_id=team.company_id, team_id=team.id,
                               emergency_contact_name="联系人", emergency_contact_phone="13900139000",
                               contract_start=date(2026, 12, 1), face_consent="refused")
