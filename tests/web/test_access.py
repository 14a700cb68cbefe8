"""Every route's login and role requirements, read from the app's own url_map."""
from __future__ import annotations

import re

from sqlalchemy import select

from domain.models import Account, AuditLog, Role
from tests.helpers.access import (  # noqa: F401 - fixtures: case, world
    ACCESS, DETAIL_PAGES, DEVICE, LOGGED_IN, PUBLIC, USER_OF_ROLE, allowed, case, fill, is_login_redirect, object_kind,
    rules,
    world,
)
from tests.helpers.web_app import enter_session


def test_every_rule_has_an_access_entry(app):
    missing = sorted(r.rule for r in rules(app) if r.rule not in ACCESS)
    assert not missing, f"routes without an access entry: {missing}"
    stale = sorted(set(ACCESS) - {r.rule for r in rules(app)})
    assert not stale, f"access entries without a route: {stale}"


def _request(client, rule, url: str):
    if "GET" in rule.methods:
        return client.get(url)
    return client.post(url, data={})


def _device_route_problems(app, services, rule, url: str, anonymous) -> list[str]:
    """A device route answers 401 with its JSON code to everyone who did not sign: a session is no
    credential there."""
    problems = []
    answers = {"anonymous": anonymous}
    for username in USER_OF_ROLE.values():
        client = app.test_client()
        enter_session(client, services, username)
        answers[username] = _request(client, rule, url)
    for who, response in answers.items():
        if response.status_code != 401 or not (response.is_json and response.get_json().get("code")):
            problems.append(f"{rule.rule}: {who} without a signature got {response.status_code}, not a 401 refusal")
    return problems


def test_every_route_requires_its_login_and_role(app, services, case):
    problems = []
    for rule in rules(app):
        entry = ACCESS[rule.rule]
        url = fill(rule.rule, case)
        anonymous = _request(app.test_client(), rule, url)
        if entry == DEVICE:
            problems += _device_route_problems(app, services, rule, url, anonymous)
            continue
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


# --- route × role × object inside / outside the caller's scope (ACC-2) ----------------------------

def _out_of_scope_rows(services) -> int:
    with services.Session() as db:
        return len(db.scalars(select(AuditLog.id).where(AuditLog.action == "access.out_of_scope")).all())


def _enable(services, username: str) -> None:
    with services.Session.begin() as db:
        account = db.scalar(select(Account).where(Account.username == username))
        account.is_active = account.can_login = True
        account.must_change_password, account.locked_until = False, None


def test_every_object_route_answers_404_outside_the_scope_and_audits_it(app, services, world):
    problems = []
    checked = 0
    for rule in rules(app):
        kind = object_kind(rule.rule)
        entry = ACCESS[rule.rule]
        if kind is None or entry in (PUBLIC, LOGGED_IN):
            continue
        for role in sorted(entry):
            username = USER_OF_ROLE[role]
            for where in ("in", "out"):
                client = app.test_client()
                if role == Role.COMPANY:  # the project role's /accounts/<id>/… (earlier rules) disabled it, reset it
                    _enable(services, username)
                enter_session(client, services, username)
                url = re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>|<any\([^)]*\):([a-z_]+)>",
                             lambda m: str(world(role, where, kind)[m.group(1) or m.group(2)]), rule.rule)
                before = _out_of_scope_rows(services)
                response = _request(client, rule, url)
                audited = _out_of_scope_rows(services) - before
                checked += 1
                if where == "out":
                    if response.status_code != 404 or audited != 1:
                        problems.append(f"{url} ({rule.rule}) {role} outside: {response.status_code}, "
                                        f"{audited} audit rows (want 404 and 1)")
                else:
                    if response.status_code in (401, 403) or is_login_redirect(response) or audited:
                        problems.append(f"{url} ({rule.rule}) {role} inside: {response.status_code}, {audited} audit rows")
                    elif rule.rule in DETAIL_PAGES and response.status_code != 200:
                        problems.append(f"{url} {role} inside: detail page answered {response.status_code}")
    assert checked > 40
    assert not problems, "\n".join(problems)
