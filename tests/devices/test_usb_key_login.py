"""USB-key login end to end on the real PC/SC stack: the platform's challenge, the virtual USB key
in pcscd signing it through the device agent, the platform verifying it against the registered key."""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from domain.models import UsbKeyCredential
from tests.helpers.agent import headers, make_app
from tests.helpers.virtual_card import VirtualUsbKey
from tests.helpers.web_app import _seeded_template, account_id, login, services  # noqa: F401 (fixtures)
from tests.helpers.fakes import FakeBridge
from web import create_app


def platform(services):
    return create_app(services, FakeBridge(), {"TESTING": True, "WTF_CSRF_ENABLED": False})


def agent_signs(agent_client, challenge_b64: str) -> dict:
    response = agent_client.post("/usb-key/sign", headers=headers(), json={"challenge": challenge_b64})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def logged_in_as(client):
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def test_the_enterprise_registers_its_usb_key_and_logs_in_with_it_through_the_agent(services, pcscd, insert_card):
    card = insert_card(VirtualUsbKey(pcscd.port + 1, Ed25519PrivateKey.generate()))
    agent_client = make_app().test_client()
    app = platform(services)

    web = app.test_client()
    login(web, "enterprise")
    challenge = web.post("/account/usb-key/challenge").get_json()["challenge"]
    signed = agent_signs(agent_client, challenge)
    response = web.post("/account/usb-key", data={"password": "Enterprise2026!", "challenge": challenge,
                                                  "signature": signed["signature"], "public_key": signed["public_key"]})
    assert response.status_code == 302
    with services.Session() as db:
        assert db.scalar(select(UsbKeyCredential.public_key)) == card.public_key_bytes().hex()

    browser = app.test_client()
    challenge = browser.post("/login/key/challenge").get_json()["challenge"]
    signed = agent_signs(agent_client, challenge)
    response = browser.post("/login/key", data={"key-username": "enterprise", "key-challenge": challenge,
                                                "key-signature": signed["signature"]})
    assert response.status_code == 302 and logged_in_as(browser) == str(account_id(services, "enterprise"))

    # another enterprise's key in the reader: its signature does not open this account
    insert_card(VirtualUsbKey(pcscd.port + 1, Ed25519PrivateKey.generate()))
    other = app.test_client()
    challenge = other.post("/login/key/challenge").get_json()["challenge"]
    signed = agent_signs(agent_client, challenge)
    assert base64.b64decode(signed["public_key"]) != card.public_key_bytes()
    page = other.post("/login/key", data={"key-username": "enterprise", "key-challenge": challenge,
                                          "key-signature": signed["signature"]}).get_data(as_text=True)
    assert "用户名或加密锁错误" in page and logged_in_as(other) is None
