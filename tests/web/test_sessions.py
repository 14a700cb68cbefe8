"""Sessions, password policy, re-authentication, rate limits and headers (ACC-5, SEC-2).

Times are moved by editing the stored session values, never by sleeping.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain.models import Account, AuditLog, LoginAttempt, utcnow
from domain.password_policy import (
    LETTERS_AND_DIGITS,
    SAME_AS_USERNAME,
    TOO_COMMON,
    TOO_SHORT,
    check_password,
    common_passwords,
    policy_problems,
    PasswordPolicyError,
)
from tests.helpers.web_app import PASSWORDS, account_id, login
from web import create_app
from web.security import EPOCH, LAST_SEEN, LOGIN_AT, SESSION_NONCE, verify_reauth


def _user_of(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def _audits(services, action: str, username: str | None = None) -> int:
    query = select(func.count()).select_from(AuditLog).where(AuditLog.action == action)
    if username is not None:
        query = query.where(AuditLog.actor_name == username)
    with services.Session() as db:
        return db.scalar(query)


def _set_account(services, username: str, **values) -> None:
    with services.Session.begin() as db:
        account = db.get(Account, account_id(services, username))
        for key, value in values.items():
            setattr(account, key, value)


# ---- lockout ------------------------------------------------------------------------------------


def test_lockout_after_five_failures_refuses_even_the_right_password(app, services):
    client = app.test_client()
    for _ in range(5):
        login(client, "chief", "Wrong2026!")
    page = login(client, "chief")
    assert page.status_code == 200 and "锁定" in page.get_data(as_text=True)
    assert _user_of(client) is None
    assert _audits(services, "auth.lockout", "chief") == 1


# ---- session lifetime -------------------------------------------------------------------------


def test_idle_timeout_ends_the_session(app, services):
    client = app.test_client()
    login(client, "reviewer")
    with client.session_transaction() as sess:
        sess[LAST_SEEN] = int(time.time()) - services.settings.session_idle_minutes * 60 - 5
    response = client.get("/bureau/inbox")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/bureau/inbox"
    assert _user_of(client) is None
    assert _audits(services, "auth.session_timeout", "reviewer") == 1


def test_absolute_timeout_ends_a_busy_session(app, services):
    client = app.test_client()
    login(client, "reviewer")
    limit = services.settings.session_absolute_hours * 3600
    assert limit == 12 * 3600
    with client.session_transaction() as sess:
        sess[LOGIN_AT] = int(time.time()) - limit + 60  # a minute left: still fine
    assert client.get("/bureau/inbox").status_code == 200
    with client.session_transaction() as sess:
        sess[LOGIN_AT] = int(time.time()) - limit - 1
        sess[LAST_SEEN] = int(time.time())  # busy until a moment ago: the idle timeout is not the reason
    response = client.get("/bureau/inbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert _user_of(client) is None
    assert "最长时间" in client.get("/login").get_data(as_text=True)
    assert _audits(services, "auth.session_expired", "reviewer") == 1
    assert login(client, "reviewer").status_code == 302  # a new login is a new session
    assert client.get("/bureau/inbox").status_code == 200


def test_logout_in_one_browser_ends_the_session_in_another(app, services):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, "reviewer")
    login(phone, "reviewer")
    other = app.test_client()
    login(other, "reviewer2")
    assert phone.get("/bureau/inbox").status_code == 200
    assert laptop.post("/logout").headers["Location"] == "/login"
    response = phone.get("/bureau/inbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert _user_of(phone) is None
    assert _audits(services, "auth.session_revoked", "reviewer") == 1
    assert other.get("/bureau/inbox").status_code == 200  # another account's session goes on
    with services.Session() as db:
        assert db.get(Account, account_id(services, "reviewer")).session_epoch == 1


@pytest.mark.parametrize("flag", ["is_active", "can_login"])
def test_disabled_account_is_kicked_out_on_its_next_request(app, services, flag):
    client = app.test_client()
    login(client, "reviewer")
    assert client.get("/bureau/inbox").status_code == 200
    _set_account(services, "reviewer", **{flag: False})
    response = client.get("/bureau/inbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert _user_of(client) is None
    assert _audits(services, "auth.session_disabled", "reviewer") == 1
    # enabled again, the old session stays ended; logging in is refused while disabled
    assert login(app.test_client(), "reviewer").status_code == 200
    _set_account(services, "reviewer", **{flag: True})
    assert client.get("/bureau/inbox").status_code == 302


def test_disabling_with_an_epoch_bump_ends_sessions_even_when_enabled_again_at_once(app, services):
    client = app.test_client()
    login(client, "reviewer")
    with services.Session.begin() as db:
        from domain.passwords import end_sessions

        end_sessions(db.get(Account, account_id(services, "reviewer")))
    assert client.get("/bureau/inbox").status_code == 302


def test_login_starts_a_new_session(app, services):
    client = app.test_client()
    with client.session_transaction() as sess:  # whatever a visitor's session held before the login
        sess[SESSION_NONCE] = "planted-by-someone-else"
        sess["planted"] = "x"
        sess["lang"] = "en"
    login(client, "reviewer")
    with client.session_transaction() as sess:
        first = dict(sess)
    assert first[SESSION_NONCE] != "planted-by-someone-else" and len(first[SESSION_NONCE]) >= 32
    assert "planted" not in first and first["lang"] == "en"
    assert first[EPOCH] == 0 and first[LOGIN_AT] == first[LAST_SEEN]
    login(client, "reviewer")  # logging in again gives yet another session
    with client.session_transaction() as sess:
        assert sess[SESSION_NONCE] != first[SESSION_NONCE]


def test_password_change_ends_other_sessions_and_keeps_this_one(app, services):
    mine, elsewhere = app.test_client(), app.test_client()
    login(mine, "project")
    login(elsewhere, "project")
    response = mine.post("/password", data={"current_password": PASSWORDS["project"], "new_password": "Fresh2026pw",
                                            "confirm_password": "Fresh2026pw"})
    assert response.status_code == 302
    assert mine.get("/project/").status_code == 200
    assert elsewhere.get("/project/").status_code == 302


# ---- password policy ----------------------------------------------------------------------------


def test_shipped_common_list_is_loaded():
    assert len(common_passwords()) > 19_000
    assert {"123456", "password", "qwerty123", "woaini1314"} <= common_passwords()


@pytest.mark.parametrize("password,role,expected", [
    ("zq7m2", "project", {TOO_SHORT}),
    ("xqzvbnwkmp", "project", {LETTERS_AND_DIGITS}),
    ("1234567890", "admin", {LETTERS_AND_DIGITS, TOO_COMMON}),
    ("Password1", "admin", {TOO_COMMON}),
    ("QWERTY123 ", "payroll_specialist", {TOO_COMMON}),
    ("Fresh2026pw", "bureau_reviewer", set()),
    ("20260815", "worker", set()),  # a worker's password needs no letters
    ("12345678", "worker", {TOO_COMMON}),
    ("hxq2vmw", "worker", {TOO_SHORT}),
])
def test_password_policy(password, role, expected):
    assert set(policy_problems(password, role)) == expected


def test_the_user_name_is_not_a_password():
    assert SAME_AS_USERNAME in policy_problems("Zhang2026", "project", "zhang2026")
    with pytest.raises(PasswordPolicyError) as refused:
        check_password("Zhang2026", "project", "ZHANG2026")
    assert refused.value.problems == [SAME_AS_USERNAME]


def test_password_page_shows_each_broken_rule(app):
    client = app.test_client()
    login(client, "project")

    def change(new):
        return client.post("/password", data={"current_password": PASSWORDS["project"], "new_password": new,
                                              "confirm_password": new}).get_data(as_text=True)

    assert "至少 8 位" in change("ab12")
    assert "常见" in change("password123")
    assert "字母和数字" in change("xqzvbnwkmpt")
    assert "用户名" in change("project")
    client.get("/lang/en")
    assert "too common" in change("qwerty123")


# ---- re-authentication --------------------------------------------------------------------------


@pytest.fixture
def reauth_app(services, bridge):
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False})

    def check():
        from flask import request

        return ("ok" if verify_reauth(request.form.get("password", ""), "bank_card") else "refused"), 200

    app.add_url_rule("/_test/reauth", "test_reauth", check, methods=["POST"])
    return app


def test_reauth_checks_the_login_password_and_audits(reauth_app, services):
    client = reauth_app.test_client()
    login(client, "enterprise")
    assert client.post("/_test/reauth", data={"password": PASSWORDS["enterprise"]}).get_data(as_text=True) == "ok"
    assert client.post("/_test/reauth", data={"password": "Wrong2026x"}).get_data(as_text=True) == "refused"
    assert "还可尝试 4 次" in client.get("/project/").get_data(as_text=True)
    assert _audits(services, "auth.reauth_success", "enterprise") == 1
    assert _audits(services, "auth.reauth_failure", "enterprise") == 1


def test_reauth_failures_lock_the_account_and_end_its_sessions(reauth_app, services):
    client, elsewhere = reauth_app.test_client(), reauth_app.test_client()
    login(client, "enterprise")
    login(elsewhere, "enterprise")
    for _ in range(5):
        assert client.post("/_test/reauth", data={"password": "Wrong2026x"}).get_data(as_text=True) == "refused"
    assert _user_of(client) is None
    assert elsewhere.get("/project/").status_code == 302
    with services.Session() as db:
        account = db.get(Account, account_id(services, "enterprise"))
        assert account.locked_until > utcnow() + timedelta(minutes=14)
        assert db.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == "enterprise", LoginAttempt.succeeded.is_(False))) == 5
    assert "锁定" in login(reauth_app.test_client(), "enterprise").get_data(as_text=True)


# ---- rate limits --------------------------------------------------------------------------------


def test_login_posts_over_the_limit_get_a_translated_429(services, bridge):
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False,
                                        "SHIMING_RATE_LIMITS": {"login": "3 per minute"}})
    client = app.test_client()
    for _ in range(3):
        assert login(client, "nobody", "Wrong2026!").status_code == 200
    for _ in range(3):
        assert client.get("/login").status_code == 200  # looking at the form does not count
    response = login(client, "reviewer")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert 'data-error="429"' in page and "请求过于频繁" in page
    assert _user_of(client) is None
    # the default limit leaves room for normal use
    assert login(create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False}).test_client(),
                 "reviewer").status_code == 302


def test_password_change_is_rate_limited_per_account(services, bridge):
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False,
                                        "SHIMING_RATE_LIMITS": {"password": "2 per minute"}})
    client = app.test_client()
    login(client, "project")
    wrong = {"current_password": "Nope2026x", "new_password": "Fresh2026pw", "confirm_password": "Fresh2026pw"}
    assert client.post("/password", data=wrong).status_code == 200
    assert client.post("/password", data=wrong).status_code == 200
    assert client.post("/password", data=wrong).status_code == 429
    other = app.test_client()
    login(other, "reviewer")
    assert other.post("/password", data=wrong).status_code == 200  # another account has its own budget


# ---- cookies and headers --------------------------------------------------------------------------


def test_security_headers_and_cookie_flags(app, services):
    client = app.test_client()
    response = login(client, "reviewer")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = client.get("/bureau/inbox")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "<script" not in html and "style=" not in html  # nothing the policy would block
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_cookies_are_secure_in_production(services, bridge):
    services.settings.env = "production"
    try:
        app = create_app(services, bridge, {"TESTING": True})
    finally:
        services.settings.env = "development"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_registrations_that_text_a_phone_are_rate_limited_as_sms(services, bridge):
    from tests.helpers.web_app import registration_form

    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False,
                                        "SHIMING_RATE_LIMITS": {"sms": "2 per minute"}})
    client = app.test_client()
    assert client.post("/register/", data=registration_form()).status_code == 302
    assert client.post("/register/", data=registration_form()).status_code == 302
    assert client.post("/register/", data=registration_form()).status_code == 429
    assert client.get("/register/").status_code == 200  # the form itself stays reachable


def test_card_binding_is_rate_limited(services, bridge):
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False,
                                        "SHIMING_RATE_LIMITS": {"card_binding": "1 per minute"}})
    client = app.test_client()
    login(client, "project")
    client.post("/password", data={"current_password": "Project2026!", "new_password": "Fresh2026pw",
                                   "confirm_password": "Fresh2026pw"})
    assert client.post("/project/workers/1/card", data={}).status_code != 429
    assert client.post("/project/workers/1/card", data={}).status_code == 429
