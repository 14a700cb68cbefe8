"""USB-key login in a real browser (Chromium through Playwright): the page's script gets the
platform's challenge, asks the running device agent (a real loopback HTTP server) to have the
virtual USB key in pcscd sign it, and sends the signature. Registration goes the same way."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices import agent
from devices.id_card_reader import PcscCardReader
from devices.usb_key import PcscUsbKey
from tests.helpers.agent import TOKEN, Served
from tests.helpers.virtual_card import VirtualUsbKey
from tests.helpers.browser import browser  # noqa: F401 (fixture)
from tests.helpers.faces import face_model
from tests.helpers.pcsc import SLOT_0, SLOT_1
from tests.helpers.web_app import _seeded_template, services  # noqa: F401 (fixtures)
from tests.helpers.fakes import FakeBridge
from web import create_app

pytestmark = [pytest.mark.browser]


@pytest.fixture
def running(services):
    web = Served(create_app(services, FakeBridge(), {}))  # CSRF on: the script sends the token
    devices = agent.AgentDevices(PcscCardReader(SLOT_0), PcscUsbKey(SLOT_1), "0", face_model, SLOT_0, SLOT_1)
    device_agent = Served(agent.create_agent_app(agent.AgentConfig((web.url,), agent.token_digest(TOKEN)), devices))
    services.settings.agent_url = device_agent.url
    yield web, device_agent
    device_agent.stop()
    web.stop()


def test_usb_key_registration_and_login_in_the_browser_through_the_agent(running, browser, pcscd, insert_card):
    web, device_agent = running
    insert_card(VirtualUsbKey(pcscd.port + 1, Ed25519PrivateKey.generate()))

    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{web.url}/login")
    page.fill("#username", "enterprise")
    page.fill("#password", "Enterprise2026!")
    page.click("#login")
    page.wait_for_url(f"{web.url}/project/")
    page.goto(f"{web.url}/account/usb-key")
    assert "尚未登记加密锁" in page.inner_text("#usb-key-current")
    page.fill("#password", "Enterprise2026!")
    page.fill("#agent-token", TOKEN)
    page.click("#usb-key-register")
    page.wait_for_selector("text=已登记的加密锁")
    ctx.close()

    ctx = browser.new_context(locale="zh-CN")  # another browser: not paired yet
    page = ctx.new_page()
    page.goto(f"{web.url}/login")
    page.fill("#username", "enterprise")
    page.fill("#password", "Enterprise2026!")
    page.click("#login")
    assert "只能使用加密锁登录" in page.content()
    page.fill("#key-username", "enterprise")
    page.click("#key-login")
    message = page.locator("[data-usb-key-message]")
    message.wait_for(state="visible")
    assert "尚未与本地设备助手配对" in message.inner_text()
    page.fill("#agent-token", "not-the-code")
    page.click("#key-login")
    page.wait_for_selector("[data-usb-key-message][data-code='agent.bad_token']")
    assert "配对码错误或已失效" in message.inner_text()
    page.fill("#agent-token", TOKEN)
    page.click("#key-login")
    page.wait_for_url(f"{web.url}/project/")

    page.click("#logout")
    page.wait_for_url(f"{web.url}/login")
    device_agent.stop()  # the agent is not running: the page says so
    page.fill("#key-username", "enterprise")
    page.click("#key-login")
    page.wait_for_selector("[data-usb-key-message][data-code='agent_not_running']")
    assert "无法连接设备助手" in page.locator("[data-usb-key-message]").inner_text()
    ctx.close()
