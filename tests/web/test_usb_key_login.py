"""USB-key login for enterprises (ACC-3): server challenge, signature against the registered key,
single use, short expiry, bound to the session; registration on the enterprise's own page.

The key here is an Ed25519 key in the test (the signer is not the server's business); the same
flow through the real PC/SC stack and the device agent is tests/devices/test_usb_key_login.py."""
from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from domain.models import Account, AuditLog, LoginAttempt, LoginChallenge, UsbKeyCredential, utcnow
from domain.usb_key import signed_message
from tests.helpers.web_app import PASSWORDS, account_id, login
from web.auth.routes import KEY_BINDING

ENTERPRISE = "enterprise"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def register_directly(services, username: str, key: Ed25519PrivateKey) -> None:
    with services.Session.begin() as db:
        db.add(UsbKeyCredential(account_id=account_id(services, username),
                                public_key=key.public_key().public_bytes_raw().hex()))


def challenge_of(client, url="/login/key/challenge") -> bytes:
    response = client.post(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return base64.b64decode(response.get_json()["challenge"])


def key_login(client, challenge: bytes, signature: bytes, username: str = ENTERPRISE):
    return client.post("/login/key", data={"key-username": username, "key-challenge": b64(challenge),
                                           "key-signature": b64(signature)})


def sign(key: Ed25519PrivateKey, challenge: bytes) -> bytes:
    return key.sign(signed_message(challenge))


def logged_in_as(client):
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def audits(services, action: str, username: str = ENTERPRISE) -> list[AuditLog]:
    with services.Session() as db:
        return list(db.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.actor_name == username)))


def test_the_registered_key_logs_the_enterprise_in(app, services):
    key = Ed25519PrivateKey.generate()
    register_directly(services, ENTERPRISE, key)
    client = app.test_client()
    challenge = challenge_of(client)
    assert len(challenge) == 32
    response = key_login(client, challenge, sign(key, challenge))
    assert response.status_code == 302 and response.headers["Location"] == "/project/"
    assert logged_in_as(client) == str(account_id(services, ENTERPRISE))
    assert len(audits(services, "auth.key_login_success")) == 1
    assert client.get("/project/").status_code == 200


def test_a_wrong_key_is_refused_and_audited(app, services):
    register_directly(services, ENTERPRISE, Ed25519PrivateKey.generate())
    client = app.test_client()
    challenge = challenge_of(client)
    response = key_login(client, challenge, sign(Ed25519PrivateKey.generate(), challenge))
    assert response.status_code == 200 and "用户名或加密锁错误" in response.get_data(as_text=True)
    assert logged_in_as(client) is None
    (row,) = audits(services, "auth.key_login_failure")
    assert row.reason == "wrong key or signature"


def test_unknown_users_and_accounts_without_a_key_get_the_wrong_key_answer(app, services):
    key = Ed25519PrivateKey.generate()
    client = app.test_client()
    for username in ("nobody", ENTERPRISE):  # enterprise has no key registered yet
        challenge = challenge_of(client)
        page = key_login(client, challenge, sign(key, challenge), username).get_data(as_text=True)
        assert "用户名或加密锁错误" in page and logged_in_as(client) is None
    assert [r.reason for r in audits(services, "auth.key_login_failure")] == ["no key registered"]
    assert [r.reason for r in audits(services, "auth.key_login_failure", "nobody")] == ["unknown user"]


def test_a_replayed_challenge_is_refused(app, services):
    key = Ed25519PrivateKey.generate()
    register_directly(services, ENTERPRISE, key)
    client = app.test_client()
    challenge = challenge_of(client)
    key_login(client, challenge, sign(Ed25519PrivateKey.generate(), challenge))  # spends the challenge
    page = key_login(client, challenge, sign(key, challenge)).get_data(as_text=True)
    assert "该加密锁签名已被使用过" in page and logged_in_as(client) is None

    # a signed login captured with the session cookie it was made in, replayed after the real login
    challenge = challenge_of(client)
    with client.session_transaction() as sess:
        stolen_binding = sess[KEY_BINDING]
    signature = sign(key, challenge)
    assert key_login(client, challenge, signature).status_code == 302
    thief = app.test_client()
    with thief.session_transaction() as sess:
        sess[KEY_BINDING] = stolen_binding
    page = key_login(thief, challenge, signature).get_data(as_text=True)
    assert "该加密锁签名已被使用过" in page and logged_in_as(thief) is None
    assert [r.reason for r in audits(services, "auth.key_login_failure")] == [
        "wrong key or signature", "challenge_used", "challenge_used"]


def test_an_expired_challenge_is_refused(app, services):
    key = Ed25519PrivateKey.generate()
    register_directly(services, ENTERPRISE, key)
    client = app.test_client()
    challenge = challenge_of(client)
    with services.Session.begin() as db:
        db.execute(update(LoginChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = key_login(client, challenge, sign(key, challenge)).get_data(as_text=True)
    assert "登录挑战已过期" in page and logged_in_as(client) is None


def test_a_challenge_issued_to_another_session_is_refused(app, services):
    key = Ed25519PrivateKey.generate()
    register_directly(services, ENTERPRISE, key)
    challenge = challenge_of(app.test_client())
    other = app.test_client()
    challenge_of(other)  # the other browser has a binding of its own
    page = key_login(other, challenge, sign(key, challenge)).get_data(as_text=True)
    assert "不属于本登录页面" in page and logged_in_as(other) is None
    stranger = app.test_client()  # no binding at all
    assert "不属于本登录页面" in key_login(stranger, challenge, sign(key, challenge)).get_data(as_text=True)


def test_only_hashes_of_the_challenge_and_binding_are_stored(app, services):
    client = app.test_client()
    challenge = challenge_of(client)
    with client.session_transaction() as sess:
        binding = sess[KEY_BINDING]
    with services.Session() as db:
        (row,) = db.scalars(select(LoginChallenge)).all()
        assert challenge.hex() not in row.challenge_hash and binding not in row.binding_hash
        assert timedelta(seconds=60) <= row.expires_at - row.created_at <= timedelta(minutes=5)


def test_once_a_key_is_registered_the_password_no_longer_logs_the_enterprise_in(app, services):
    client = app.test_client()
    assert login(client, ENTERPRISE).status_code == 302  # no key yet: the password works
    register_directly(services, ENTERPRISE, Ed25519PrivateKey.generate())
    client = app.test_client()
    response = login(client, ENTERPRISE)
    assert response.status_code == 200 and "只能使用加密锁登录" in response.get_data(as_text=True)
    assert logged_in_as(client) is None
    assert len(audits(services, "auth.login_key_required")) == 1
    assert login(app.test_client(), "reviewer").status_code == 302  # other roles keep the password


def test_five_wrong_signatures_lock_the_account(app, services):
    key = Ed25519PrivateKey.generate()
    register_directly(services, ENTERPRISE, key)
    client = app.test_client()
    for _ in range(5):
        challenge = challenge_of(client)
        key_login(client, challenge, sign(Ed25519PrivateKey.generate(), challenge))
    challenge = challenge_of(client)
    page = key_login(client, challenge, sign(key, challenge)).get_data(as_text=True)
    assert "锁定" in page and logged_in_as(client) is None
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == ENTERPRISE, LoginAttempt.succeeded.is_(False))) == 6
    assert len(audits(services, "auth.lockout")) == 1


def test_the_login_page_may_call_the_device_agent_and_nothing_else(app, services):
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert f"connect-src 'self' {services.settings.agent_url}" in csp and "default-src 'self'" in csp
    page = response.get_data(as_text=True)
    assert 'data-usb-key="login"' in page and services.settings.agent_url in page and "usb_key.js" in page
    messages = json.loads(html.unescape(re.search(r'data-messages="([^"]*)"', page).group(1)))
    assert "无法连接设备助手" in messages["agent_not_running"]  # the translated words the script shows
    assert "未连接加密锁" in messages["usb_key.no_card"]


# ---- registration on the enterprise's own page -------------------------------------------------------


def register_through_the_page(client, key: Ed25519PrivateKey, password: str = PASSWORDS[ENTERPRISE],
                              offered: Ed25519PrivateKey | None = None):
    challenge = challenge_of(client, "/account/usb-key/challenge")
    return client.post("/account/usb-key", data={
        "password": password, "challenge": b64(challenge), "signature": b64(sign(key, challenge)),
        "public_key": b64((offered or key).public_key().public_bytes_raw())})


def test_the_enterprise_registers_its_key_with_its_password_then_logs_in_with_it(app, services):
    client = app.test_client()
    login(client, ENTERPRISE)
    assert "尚未登记加密锁" in client.get("/account/usb-key").get_data(as_text=True)
    key = Ed25519PrivateKey.generate()
    response = register_through_the_page(client, key)
    assert response.status_code == 302
    page = client.get("/account/usb-key").get_data(as_text=True)
    assert "已登记的加密锁" in page
    (row,) = audits(services, "auth.usb_key_registered")
    assert row.detail and "fingerprint" in row.detail
    with services.Session() as db:
        credential = db.scalar(select(UsbKeyCredential))
        assert credential.public_key == key.public_key().public_bytes_raw().hex()
        assert credential.account_id == account_id(services, ENTERPRISE)

    fresh = app.test_client()
    assert login(fresh, ENTERPRISE).status_code == 200 and logged_in_as(fresh) is None
    challenge = challenge_of(fresh)
    assert key_login(fresh, challenge, sign(key, challenge)).status_code == 302


def test_registration_needs_the_password_and_the_offered_keys_own_signature(app, services):
    client = app.test_client()
    login(client, ENTERPRISE)
    key = Ed25519PrivateKey.generate()
    page = register_through_the_page(client, key, password="Wrong2026!").get_data(as_text=True)
    assert "登录密码错误" in page
    page = register_through_the_page(client, key, offered=Ed25519PrivateKey.generate()).get_data(as_text=True)
    assert "用户名或加密锁错误" in page
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(UsbKeyCredential)) == 0
    assert audits(services, "auth.usb_key_registered") == []


def test_a_key_of_another_account_cannot_be_registered_and_other_roles_have_no_key_page(app, services):
    key = Ed25519PrivateKey.generate()
    with services.Session.begin() as db:
        other = db.scalar(select(Account).where(Account.username == "project"))
        db.add(UsbKeyCredential(account_id=other.id, public_key=key.public_key().public_bytes_raw().hex()))
    client = app.test_client()
    login(client, ENTERPRISE)
    assert "已登记在其他账号下" in register_through_the_page(client, key).get_data(as_text=True)
    reviewer = app.test_client()
    login(reviewer, "reviewer")
    assert reviewer.get("/account/usb-key").status_code == 403
    assert reviewer.post("/account/usb-key/challenge").status_code == 403


def test_the_security_administrator_removes_a_lost_key_with_a_reason(app, services):
    key = Ed25519PrivateKey.generate()
    register_directly(services, ENTERPRISE, key)
    target = account_id(services, ENTERPRISE)
    admin = app.test_client()
    login(admin, "secadmin")
    page = admin.get(f"/accounts/{target}").get_data(as_text=True)
    assert 'id="usb-key-panel"' in page and "已登记的加密锁" in page
    admin.post(f"/accounts/{target}/usb-key/remove", data={"usb-key-reason": ""})
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(UsbKeyCredential)) == 1  # no reason, no removal
    response = admin.post(f"/accounts/{target}/usb-key/remove", data={"usb-key-reason": "加密锁遗失"})
    assert response.status_code == 302
    with services.Session() as db:
        assert db.scalar(select(func.count()).select_from(UsbKeyCredential)) == 0
    (row,) = audits(services, "auth.usb_key_removed", "secadmin")
    assert row.reason == "加密锁遗失" and "fingerprint" in row.detail
    assert 'id="usb-key-panel"' not in admin.get(f"/accounts/{target}").get_data(as_text=True)
    assert login(app.test_client(), ENTERPRISE).status_code == 302  # the password works again

    system_admin = app.test_client()  # the system administrator manages accounts too, but not keys
    login(system_admin, "admin")
    assert system_admin.post(f"/accounts/{target}/usb-key/remove",
                                 data={"usb-key-reason": "x"}).status_code == 403
