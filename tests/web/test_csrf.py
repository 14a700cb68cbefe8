"""CSRF: every state-changing route refuses a POST without a token and changes nothing."""
from __future__ import annotations

import re

from sqlalchemy import select, text

from domain.models import Base, RegistrationStatus
from tests.web.conftest import create_registration, enter_session, registration_form, tiny_pdf, upload
from tests.web.test_access import ACCESS, PUBLIC, LOGGED_IN, USER_OF_ROLE, create_payroll_run, fill


def snapshot(services) -> dict:
    """Every row of every table: a change anywhere shows up as a difference."""
    with services.engine.connect() as conn:
        return {t.name: conn.execute(select(t)).all() for t in Base.metadata.sorted_tables}


def user_for(entry) -> str | None:
    if entry in (PUBLIC,):
        return None
    if entry == LOGGED_IN:
        return "reviewer"
    role = sorted(entry)[0]
    return USER_OF_ROLE[role]


def valid_payload(rule: str, case: dict) -> dict:
    """What the route would accept with a token, so only the missing token can stop it."""
    if rule == "/login":
        return {"username": "reviewer", "password": "Review2026!"}
    if rule == "/password":
        return {"current_password": "Review2026!", "new_password": "Newpass2026", "confirm_password": "Newpass2026"}
    if rule == "/register/":
        return registration_form()
    if rule == "/register/status":
        return {"number": case["number"], "phone": "13912345678"}
    if rule.endswith("/upload"):
        return {"scan": upload(tiny_pdf(), "scan.pdf")}
    if rule.endswith("/correct"):
        return {**registration_form(), "revision": str(case["revision"])}
    if rule.startswith("/bureau/task/"):
        return {"task_id": str(case["task_id"])}
    if rule.startswith("/admin/process/"):
        return {"reason": "stuck since Monday"}
    if rule == "/payroll/open":
        return {"month": "2026-11"}
    if rule == "/payroll/security-password":
        return {"new_password": "Secure2026x", "confirm_password": "Secure2026x"}
    if rule.endswith("/wage-table"):
        return {"table": upload(b"PK\x03\x04 not really a table", "table.xlsx"), "security_password": "Secure2026x"}
    if rule.endswith("/signed-sheet"):
        return {"sheet": upload(tiny_pdf(), "sheet.pdf"), "security_password": "Secure2026x"}
    if rule.endswith("/wage-file"):
        return {"batch_version": "1", "security_password": "Secure2026x"}
    if rule == "/accounts/new":
        return {"username": "csrf-made", "display_name": "CSRF", "role": "supervisor", "district_id": "0",
                "reviewer_enterprise_id": "0", "company_id": "0"}
    if rule.startswith("/accounts/") and rule.endswith(":change>"):
        return {"reason": "no token"}
    if rule == "/payroll/accounts/add":
        return {"login_password": "Login2026x", "security_password": "Secure2026x", "bank_code": "REFBANK",
                "account_number": "6222020200012345678", "account_name": "工资专户"}
    if rule.endswith("/settle"):
        return {"reason": "paid in cash", "security_password": "Secure2026x"}
    return {}


# Routes a browser never posts to; they authenticate the request body itself (a bank's signature,
# tested with the real reference bank in tests/e2e/test_wage_run_processes.py; a device's, in
# tests/attendance/test_punch_api.py, which runs with CSRF protection on).
SIGNED_BODY_ROUTES = {"/api/bank/statements", "/api/attendance/v1/punches"}


def test_every_post_route_refuses_a_missing_token(csrf_app, services, bridge):
    case = create_registration(services, status=RegistrationStatus.RETURNED)
    case["run_id"] = create_payroll_run(services)
    post_rules = [r for r in csrf_app.url_map.iter_rules()
                  if "POST" in r.methods and r.endpoint != "static" and r.rule not in SIGNED_BODY_ROUTES]
    assert len(post_rules) >= 10
    before = snapshot(services)
    for rule in post_rules:
        client = csrf_app.test_client()
        username = user_for(ACCESS[rule.rule])
        if username:
            enter_session(client, services, username)
        response = client.post(fill(rule.rule, case), data=valid_payload(rule.rule, case),
                               content_type="multipart/form-data")
        assert response.status_code == 400, (rule.rule, response.status_code)
        assert snapshot(services) == before, f"{rule.rule} changed the database without a CSRF token"
    assert bridge.calls == 0


def test_the_same_post_with_its_token_is_accepted(csrf_app, services, bridge):
    """The control experiment: the claim above is refused only for the missing token."""
    case = create_registration(services)
    client = csrf_app.test_client()
    enter_session(client, services, "reviewer")
    page = client.get(f"/bureau/task/{case['task_id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    token = token.group(1) or token.group(2)
    response = client.post(f"/bureau/task/{case['task_id']}/claim",
                           data={"csrf_token": token, "task_id": case["task_id"]})
    assert response.status_code == 302
    assert len(bridge.updates) == 1


def test_a_stale_token_from_another_session_is_refused(csrf_app, services, bridge):
    case = create_registration(services)
    other = csrf_app.test_client()
    enter_session(other, services, "reviewer2")
    page = other.get(f"/bureau/task/{case['task_id']}").get_data(as_text=True)
    token = re.search(r'value="([^"]+\.[^"]+\.[^"]+)"', page).group(1)
    client = csrf_app.test_client()
    enter_session(client, services, "reviewer")
    response = client.post(f"/bureau/task/{case['task_id']}/claim", data={"csrf_token": token,
                                                                          "task_id": case["task_id"]})
    assert response.status_code == 400
    assert bridge.updates == []
    with services.engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_log where action like 'task.%'")).scalar() == 0
