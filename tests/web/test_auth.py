"""Login (ACC-5): lockout, idle timeout, safe `next`, forced password change, language."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain.models import Account, AuditLog, LoginAttempt, utcnow
from domain.passwords import verify_password
from tests.helpers.web_app import PASSWORDS, account_id, login
from web.security import LAST_SEEN, is_safe_next


def _logged_in_as(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def _audit_count(services, action: str, username: str) -> int:
    with services.Session() as db:
        return db.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == action, AuditLog.actor_name == username))


def test_login_redirects_each_role_to_its_home(app, services):
    homes = {"admin": "/admin/", "reviewer": "/bureau/inbox", "chief": "/bureau/inbox",
             "project": "/project/", "enterprise": "/project/"}
    for username, home in homes.items():
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302 and response.headers["Location"] == home, username
        assert _audit_count(services, "auth.login_success", username) == 1


def test_unknown_user_and_wrong_password_get_the_same_message(app):
    client = app.test_client()
    unknown = login(client, "nobody", "Whatever2026").get_data(as_text=True)
    wrong = login(client, "reviewer", "Wrong2026!").get_data(as_text=True)
    for page in (unknown, wrong):
        assert "用户名或密码错误" in page
    assert _logged_in_as(client) is None


def test_five_failures_lock_the_account_and_the_right_password_is_then_refused(app, services):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "reviewer", "Wrong2026!").status_code == 200
    sixth = login(client, "reviewer")  # the right password
    assert sixth.status_code == 200
    assert "锁定" in sixth.get_data(as_text=True)
    assert _logged_in_as(client) is None
    with services.Session() as db:
        account = db.scalar(select(Account).where(Account.username == "reviewer"))
        assert account.locked_until is not None and account.locked_until > utcnow() + timedelta(minutes=14)
        attempts = db.scalars(select(LoginAttempt).where(LoginAttempt.username == "reviewer")).all()
        assert [a.succeeded for a in attempts] == [False] * 6
    assert _audit_count(services, "auth.login_failure", "reviewer") == 5
    assert _audit_count(services, "auth.lockout", "reviewer") == 1
    assert _audit_count(services, "auth.login_locked", "reviewer") == 1
    # another account is not affected
    assert login(app.test_client(), "reviewer2").status_code == 302


def test_after_the_lock_ends_the_right_password_works_again(app, services):
    client = app.test_client()
    for _ in range(5):
        login(client, "reviewer", "Wrong2026!")
    with services.Session.begin() as db:
        account = db.scalar(select(Account).where(Account.username == "reviewer"))
        account.locked_until = utcnow() - timedelta(seconds=1)
    assert login(client, "reviewer").status_code == 302


def test_old_failures_outside_the_window_do_not_count(app, services):
    with services.Session.begin() as db:
        for _ in range(4):
            db.add(LoginAttempt(username="reviewer", succeeded=False, created_at=utcnow() - timedelta(minutes=20)))
    client = app.test_client()
    login(client, "reviewer", "Wrong2026!")
    assert login(client, "reviewer").status_code == 302


def test_unknown_names_are_locked_out_too(app):
    client = app.test_client()
    for _ in range(5):
        login(client, "ghost", "Wrong2026!")
    assert "锁定" in login(client, "ghost", "Wrong2026!").get_data(as_text=True)


def test_idle_session_is_logged_out(app, services):
    client = app.test_client()
    login(client, "reviewer")
    assert client.get("/bureau/inbox").status_code == 200
    idle = services.settings.session_idle_minutes
    with client.session_transaction() as sess:
        sess[LAST_SEEN] -= idle * 60 - 60  # still within the limit
    assert client.get("/bureau/inbox").status_code == 200
    with client.session_transaction() as sess:
        sess[LAST_SEEN] -= idle * 60 + 1
    response = client.get("/bureau/inbox")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/bureau/inbox"
    assert _logged_in_as(client) is None
    assert "长时间未操作" in client.get("/login").get_data(as_text=True)
    assert client.get("/bureau/inbox").status_code == 302
    assert _audit_count(services, "auth.session_timeout", "reviewer") == 1


@pytest.mark.parametrize("target", ["/bureau/inbox?view=mine", "/bureau/inbox"])
def test_next_on_this_site_is_followed(app, target):
    response = login(app.test_client(), "reviewer", next_url=target.replace("?", "%3F").replace("=", "%3D"))
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "http:/evil.example", "javascript:alert(1)", "bureau/inbox"])
def test_next_elsewhere_is_ignored(app, target):
    assert not is_safe_next(target)
    client = app.test_client()
    response = client.post("/login", query_string={"next": target},
                           data={"username": "reviewer", "password": PASSWORDS["reviewer"], "next": target})
    assert response.headers["Location"] == "/bureau/inbox"


def _must_change(services, username: str) -> None:
    with services.Session.begin() as db:
        db.scalar(select(Account).where(Account.username == username)).must_change_password = True


def test_initial_password_must_be_changed_before_anything_else(app, services):
    _must_change(services, "project")
    client = app.test_client()
    assert login(client, "project").headers["Location"] == "/password"
    for url in ("/project/", "/bureau/inbox", "/"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/password", url
    assert client.get("/password").status_code == 200
    assert client.get("/lang/en?next=/password").status_code == 302
    assert client.get("/static/style.css").status_code == 200

    def change(new, confirm=None, current=PASSWORDS["project"]):
        return client.post("/password", data={"current_password": current, "new_password": new,
                                              "confirm_password": confirm or new})

    assert "At least 8 characters" in change("abc123").get_data(as_text=True)
    assert "letters and digits" in change("abcdefghij").get_data(as_text=True)
    assert "must differ" in change(PASSWORDS["project"]).get_data(as_text=True)
    assert "current password is wrong" in change("Fresh2026pw", current="Nope2026!").get_data(as_text=True)
    assert "differ" in change("Fresh2026pw", confirm="Other2026pw").get_data(as_text=True)
    assert client.get("/project/").headers["Location"] == "/password"

    response = change("Fresh2026pw")
    assert response.status_code == 302 and response.headers["Location"] == "/project/"
    assert client.get("/project/").status_code == 200
    with services.Session() as db:
        account = db.get(Account, account_id(services, "project"))
        assert not account.must_change_password and verify_password(account.password_hash, "Fresh2026pw")
    assert _audit_count(services, "auth.password_change", "project") == 1
    assert login(app.test_client(), "project", "Fresh2026pw").headers["Location"] == "/project/"


def test_inactive_account_is_refused_and_its_session_ends(app, services):
    client = app.test_client()
    login(client, "reviewer")
    with services.Session.begin() as db:
        db.get(Account, account_id(services, "reviewer")).is_active = False
    assert client.get("/bureau/inbox").status_code == 302
    response = login(app.test_client(), "reviewer")
    assert response.status_code == 200 and _audit_count(services, "auth.login_inactive", "reviewer") == 1


def test_logout_needs_post_and_ends_the_session(app, services):
    client = app.test_client()
    login(client, "admin")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302
