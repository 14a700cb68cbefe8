"""Every route's login and role requirements, read from the app's own url_map."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from domain.models import AuditLog, RegistrationStatus, Role
from tests.web.conftest import create_registration, enter_session

PUBLIC = "public"
LOGGED_IN = "any logged-in account"
BUREAU = set(Role.BUREAU)
PAYROLL = {Role.PAYROLL_SPECIALIST}
MANAGERS = {Role.ADMIN, Role.SECURITY_ADMIN, Role.ENTERPRISE, Role.PROJECT}

# rule → who may reach it. A new rule without an entry fails test_every_rule_has_an_access_entry.
ACCESS = {
    "/": PUBLIC,
    "/login": PUBLIC,
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
    "/bureau/inbox": BUREAU,
    "/bureau/task/<int:task_id>": BUREAU,
    "/bureau/task/<int:task_id>/scan": BUREAU,
    "/bureau/task/<int:task_id>/application.docx": BUREAU,
    "/bureau/task/<int:task_id>/<any(claim, unclaim, approve, reject, return):action>": BUREAU,
    "/project/": {Role.PROJECT, Role.ENTERPRISE},
    "/project/workers": {Role.PROJECT},
    "/project/workers/<int:pw_id>": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit/start": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit/recheck": {Role.PROJECT},
    "/project/workers/<int:pw_id>/exit/cancel": {Role.PROJECT},
    "/project/workers/<int:pw_id>/card": {Role.PROJECT},
    "/project/roster": {Role.PROJECT},
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
    "/payroll/run/<int:run_id>/sheet": PAYROLL,
    "/payroll/run/<int:run_id>/bank-file/<int:version>": PAYROLL,
    "/payroll/run/<int:run_id>/wage-table": PAYROLL,
    "/payroll/run/<int:run_id>/signed-sheet": PAYROLL,
    "/payroll/run/<int:run_id>/bank-file": PAYROLL,
    "/payroll/run/<int:run_id>/reissue": PAYROLL,
    "/payroll/run/<int:run_id>/start": PAYROLL,
    "/payroll/run/<int:run_id>/line/<int:line_id>/settle": PAYROLL,
    "/payroll/accounts": PAYROLL,
    "/payroll/accounts/add": PAYROLL,
    "/payroll/accounts/<int:account_id>": PAYROLL,
    "/payroll/accounts/<int:account_id>/accept": PAYROLL,
    "/payroll/accounts/<int:account_id>/start": PAYROLL,
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
}


def rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def fill(rule: str, case: dict) -> str:
    values = {"token": case["token"], "task_id": case["task_id"], "workflow_id": case["workflow_id"],
              "code": "en", "action": "claim", "change": "disable", "run_id": case.get("run_id", 1), "version": 1,
              "line_id": case.get("line_id", 1), "account_id": case.get("account_id", 1),
              "pw_id": case.get("pw_id", 1)}
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>|<any\([^)]*\):([a-z_]+)>",
                  lambda m: str(values[m.group(1) or m.group(2)]), rule)


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].split("?")[0].endswith("/login")


def allowed(entry, role: str) -> bool:
    return entry in (PUBLIC, LOGGED_IN) or role in entry


def test_every_rule_has_an_access_entry(app):
    missing = sorted(r.rule for r in rules(app) if r.rule not in ACCESS)
    assert not missing, f"routes without an access entry: {missing}"
    stale = sorted(set(ACCESS) - {r.rule for r in rules(app)})
    assert not stale, f"access entries without a route: {stale}"


@pytest.fixture
def case(services, bridge):
    """A scan-carrying application of the reviewer's district with its open task."""
    from tests.web.conftest import tiny_pdf

    c = create_registration(services, status=RegistrationStatus.RETURNED)
    with services.Session.begin() as db:
        from domain.models import RegistrationApplication

        app = db.get(RegistrationApplication, c["id"])
        app.scan_file_id = services.blobs.store_scan(db, tiny_pdf(), 10_000, "scan").id
    c["run_id"] = create_payroll_run(services)
    return c


def create_payroll_run(services) -> int:
    """The "payroll" specialist of the demo project and an open wage run of that project."""
    from domain.models import Account, WageAccount, WageRun
    from tests.web.conftest import create_payroll_specialist

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


def _request(client, rule, url: str):
    if "GET" in rule.methods:
        return client.get(url)
    return client.post(url, data={})


def test_every_route_requires_its_login_and_role(app, services, case):
    problems = []
    for rule in rules(app):
        entry = ACCESS[rule.rule]
        url = fill(rule.rule, case)
        anonymous = _request(app.test_client(), rule, url)
        if entry == PUBLIC:
            if anonymous.status_code in (401, 403) or is_login_redirect(anonymous):
                problems.append(f"{rule.rule}: public but anonymous got {anonymous.status_code}")
        elif not is_login_redirect(anonymous):
            problems.append(f"{rule.rule}: anonymous got {anonymous.status_code}, not a redirect to /login")
        for role, username in USER_OF_ROLE.items():
            client = app.test_client()
            enter_session(client, services, username)
            response = _request(client, rule, url)
            if allowed(entry, role):
                if rule.rule == "/logout":  # its answer is a redirect to the login page: check it acted
                    with services.Session() as db:
                        ok = db.scalar(select(AuditLog).where(AuditLog.action == "auth.logout",
                                                              AuditLog.actor_name == username)) is not None
                else:
                    ok = response.status_code not in (401, 403) and not is_login_redirect(response)
                if not ok:
                    problems.append(f"{rule.rule}: {role} may reach it but got {response.status_code}")
            elif response.status_code != 403:
                problems.append(f"{rule.rule}: {role} must get 403, got {response.status_code}")
    assert not problems, "\n".join(problems)


def test_reviewer_pages_answer_200_for_the_reviewer(app, services, case):
    client = app.test_client()
    enter_session(client, services, "reviewer")
    for url in ("/bureau/inbox", f"/bureau/task/{case['task_id']}", f"/bureau/task/{case['task_id']}/scan",
                f"/bureau/task/{case['task_id']}/application.docx"):
        assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login_with_the_page_to_come_back_to(client):
    response = client.get("/bureau/inbox?view=mine")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/bureau/inbox?view%3Dmine"


def test_security_headers_and_cookie_flags(csrf_app):
    app = csrf_app
    response = app.test_client().get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
