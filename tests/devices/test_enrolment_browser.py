"""The whole enrolment through the pages in a real browser (Chromium through Playwright), ENR-1…7.

Temporal dev server, worker and web app run as separate processes (tests/helpers/stack.py); the
device agent runs as a real loopback HTTP server against the virtual ID card in pcscd (vpcd) and a
video file as its camera. The labour specialist reads the card, types the phone, records the
worker's consent, captures the face (the clip follows the challenge the page was given), completes
the record and submits; then uploads the signed contract and records the training, and the worker
is admitted. With the agent stopped, the page says the agent is not running; with no card on the
reader, that no card is there; with no camera, that none is available."""
from __future__ import annotations


import pytest
from sqlalchemy import select

from benchmarks.face_clips import challenge_frames, write_clip
from devices import agent
from devices.id_card_reader import PcscCardReader
from devices.usb_key import PcscUsbKey
from domain.face import Challenge
from domain.models import Enrolment, FaceTemplate, Worker
from domain.processes.enrolment import EnrolmentState
from tests.helpers.agent import TOKEN
from tests.helpers.agent import Served
from tests.helpers.virtual_card import VirtualIdCard
from tests.helpers.scan_samples import minimal_pdf
from tests.helpers.browser import browser  # noqa: F401 (fixture)
from tests.helpers import enrolment as h
from tests.helpers.faces import canvas_photo, face_model, one_face
from tests.helpers.identities import SAMPLE, block_of
from tests.helpers.pcsc import SLOT_0, SLOT_1
from tests.helpers.stack import start_stack
from tests.helpers.waiting import poll

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def running(tmp_path):
    stack = start_stack(tmp_path / "stack", web=False, worker=True)
    camera = tmp_path / "camera.avi"
    devices = agent.AgentDevices(PcscCardReader(SLOT_0), PcscUsbKey(SLOT_1), str(camera), face_model, SLOT_0, SLOT_1)
    device_agent = Served(agent.create_agent_app(agent.AgentConfig((stack.web_url,), agent.token_digest(TOKEN)),
                                                 devices))
    stack.extra_env["SHIMING_AGENT_URL"] = device_agent.url
    try:
        stack.start_web()
        yield stack, device_agent, camera
    finally:
        device_agent.stop()
        stack.stop()


def test_the_whole_enrolment_through_the_pages_with_the_agent(running, browser, pcscd, insert_card, tmp_path):
    stack, device_agent, camera = running
    s = h.site(stack.services)
    base = stack.web_url
    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "project")
    page.fill("input[name=password]", "Project2026!")
    page.click("#login")
    page.wait_for_url(f"{base}/project/")
    page.click("#nav-enrolment")
    page.click(f"#enrol-project-{s.project_id}")

    message = page.locator("[data-agent-message]")
    page.fill("#agent-token", TOKEN)
    page.click("#read-card")  # no card on the reader yet
    page.wait_for_selector("[data-agent-message][data-code='id_card.no_card']")
    assert "阅读器上没有卡片" in message.inner_text()
    insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    page.click("#read-card")
    page.wait_for_selector("[data-agent-message][data-code='card_read']")
    assert page.input_value("#name") == SAMPLE.name and page.input_value("#id_number") == SAMPLE.id_number
    assert SAMPLE.masked_id_number in message.inner_text()
    page.fill("#phone", "13800138000")

    page.check("input[data-consent='given']")
    page.click("#capture-face")  # no camera yet (the clip is not there)
    page.wait_for_selector("[data-agent-message][data-code='face.camera_unavailable']")
    assert "无可用摄像头" in message.inner_text()
    order = [Challenge(m) for m in page.get_attribute("#capture-face", "data-challenge").split(",")]
    frame = canvas_photo("obama.jpg")
    write_clip(camera, challenge_frames(frame, one_face(frame), order))
    page.click("#capture-face")
    page.wait_for_selector("[data-agent-message][data-code='face_captured']", timeout=60_000)
    assert page.input_value("#face_template")

    page.select_option("#trade", "020")
    page.select_option("#company_id", str(s.company_id))
    page.select_option("#team_id", str(s.team_id))
    page.fill("#emergency_contact_name", "韦妻")
    page.fill("#emergency_contact_phone", "13900139001")
    page.fill("#contract_start", "2026-12-01")
    page.fill("#contract_end", "2027-11-30")
    page.fill("#daily_rate", "350")
    page.click("#submit-enrolment")
    page.wait_for_selector("#enrolment-state")

    def state(expected: str):
        def check():
            if page.get_attribute("#enrolment-state", "data-state") == expected:
                return True
            page.reload()
            return False
        poll(check, f"the enrolment to be {expected}")

    state(EnrolmentState.AWAITING_DOCUMENTS)
    assert "已采集，未准许进场" in page.inner_text("#enrolment-state")
    with page.expect_download() as download:
        page.click("#download-contract")
    assert download.value.suggested_filename.endswith(".docx")
    pdf = tmp_path / "signed.pdf"
    pdf.write_bytes(minimal_pdf())
    page.set_input_files("#contract-scan", str(pdf))
    page.click("#upload-contract")
    page.wait_for_selector("#contract-on-file")
    page.fill("#course", "三级安全教育")
    page.fill("#trained_on", "2026-12-02")
    page.fill("#hours", "24")
    page.set_input_files("#certificate", str(pdf))
    page.click("#record-training")
    state(EnrolmentState.ADMITTED)
    assert "已准许进场" in page.inner_text("#enrolment-state")
    with stack.services.Session() as db:
        row = db.scalar(select(Enrolment))
        worker = db.get(Worker, row.worker_id)
        assert worker.verified_by_card and worker.name == SAMPLE.name
        assert db.scalar(select(FaceTemplate).where(FaceTemplate.worker_id == worker.id)) is not None

    device_agent.stop()  # the agent is not running: the page says so
    page.goto(f"{base}/enrolment/new/{s.project_id}")
    page.click("#read-card")
    page.wait_for_selector("[data-agent-message][data-code='agent_not_running']")
    assert "无法连接设备助手" in message.inner_text()
    ctx.close()
