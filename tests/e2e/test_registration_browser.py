"""The registration story in a real browser against real processes (REG-1…4).

Applicant submits → reviewer claims and returns it → applicant corrects and resubmits →
reviewer approves → the SMS outbox holds the credentials → the new project account logs in and
must change its password. Temporal dev server, worker and web app run as separate processes.
"""
from __future__ import annotations

import re

import pytest
from docx import Document
from sqlalchemy import select

from domain.models import Notification, RegistrationApplication
from domain.notify import read_body
from shiming.seed import demo_credit_code
from tests.helpers.browser import login, open_task_from_queue, wait_attr, wait_until
from tests.helpers.scan_samples import minimal_png
from tests.helpers.stack import start_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = "13877776666"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("stack"), web=True, worker=True)
    yield s
    s.stop()


def test_registration_returned_corrected_approved_and_first_login(stack, browser, tmp_path):
    base = stack.web_url
    scan = tmp_path / "stamped.png"
    scan.write_bytes(minimal_png(64, 64))

    # --- the applicant fills the form (no account), in the default Chinese interface -------------
    applicant = browser.new_context(accept_downloads=True, locale="zh-CN")
    page = applicant.new_page()
    page.goto(f"{base}/register/")
    assert "项目" in page.content()
    page.fill("input[name=name]", "浏览器测试安置房项目")
    page.fill("input[name=address]", "南宁市青秀区浏览器路1号")
    page.select_option("select[name=district_id]", label="南宁市青秀区")
    page.fill("input[name=builder_name]", "浏览器建设单位")
    page.fill("input[name=builder_credit_code]", demo_credit_code("12450100MB0000007"))
    page.fill("input[name=contractor_name]", "浏览器总包单位")
    page.fill("input[name=contractor_credit_code]", demo_credit_code("91450100MA5K9XYW4"))
    page.fill("input[name=owner_name]", "浏览器业主单位")
    page.fill("input[name=owner_credit_code]", "91350100M000100Y4X")  # wrong check character
    page.fill("input[name=contract_value]", "12345678.90")
    page.fill("input[name=planned_start]", "2027-01-01")
    page.fill("input[name=planned_end]", "2027-12-31")
    page.fill("input[name=contact_name]", "浏览器联系人")
    page.fill("input[name=contact_phone]", PHONE)
    page.click("#submit-registration")
    # the bad credit code is refused and nothing is saved
    assert page.locator(".has-error").count() >= 1
    with stack.services.Session() as session:
        assert session.scalar(select(RegistrationApplication).where(
            RegistrationApplication.name == "浏览器测试安置房项目")) is None
    page.fill("input[name=owner_credit_code]", demo_credit_code("12450100MB0000008"))
    page.click("#submit-registration")
    number = page.get_attribute("#application-number", "data-number")
    assert number and number.startswith("REG")
    application_url = page.url

    with page.expect_download() as dl:
        page.click("#download-docx")
    doc = Document(dl.value.path())
    assert number in "\n".join(p.text for p in doc.paragraphs)

    page.set_input_files("input[name=scan]", str(scan))
    page.click("#upload-scan")
    wait_attr(page, "#application-status", "data-status", "in_review", "the application to be in review")

    # --- the reviewer claims it and returns it for correction ------------------------------------
    reviewer_ctx = browser.new_context(locale="zh-CN")
    reviewer = reviewer_ctx.new_page()
    login(reviewer, base, "reviewer", "Review2026!")
    open_task_from_queue(reviewer, base, number)
    assert reviewer.locator("#view-scan").count() == 1
    task_url = reviewer.url
    reviewer.click("#claim")
    reviewer.wait_for_selector("#return")
    reviewer.click("#return")  # no reason: the form refuses before anything is sent
    assert reviewer.locator("#return-reason:invalid").count() == 1
    assert reviewer.get_attribute("#task-state", "data-application-status") == "in_review"
    reviewer.fill("#return-reason", "项目地址缺少门牌号，请补充")
    reviewer.click("#return")
    reviewer.goto(task_url)
    wait_attr(reviewer, "#task-state", "data-application-status", "returned", "the return to be recorded")

    # --- the applicant checks the status with number + phone, corrects and resubmits ------------
    page.goto(f"{base}/register/status")
    page.fill("input[name=number]", number)
    page.fill("input[name=phone]", PHONE)
    page.click("#check-status")
    assert page.get_attribute("#application-status", "data-status") == "returned"
    assert "门牌号" in page.inner_text("#last-reason")
    assert PHONE not in page.content()  # masked wherever shown
    page.click("#correction-link")
    page.fill("input[name=address]", "南宁市青秀区浏览器路1号8栋")
    page.click("#submit-correction")
    page.goto(application_url)
    assert page.get_attribute("#application-status", "data-status") == "in_review"

    # --- the reviewer approves the corrected application -----------------------------------------
    open_task_from_queue(reviewer, base, number)
    assert "8栋" in reviewer.content()
    task_url = reviewer.url
    reviewer.click("#claim")
    reviewer.wait_for_selector("#approve")
    reviewer.click("#approve")
    reviewer.goto(task_url)
    wait_attr(reviewer, "#task-state", "data-application-status", "approved", "the approval to be recorded")

    # --- the outbox holds the credentials (never shown on screen) --------------------------------
    def credentials():
        with stack.services.Session() as session:
            row = session.scalar(select(Notification).where(Notification.template == "registration_approved"))
            return read_body(stack.services.cipher, row) if row else None

    body = wait_until(credentials, "the credentials SMS")
    _number, username, password, _link = body.split("|")
    assert _number == number
    assert password not in reviewer.content()

    # --- the new project account logs in and must change its password ----------------------------
    project_ctx = browser.new_context(locale="zh-CN")
    project = project_ctx.new_page()
    login(project, base, username, password)
    project.wait_for_selector("#must-change")
    project.goto(f"{base}/project/")
    assert re.search(r"/password", project.url), "every page leads to the password change first"
    project.fill("input[name=current_password]", password)
    project.fill("input[name=new_password]", "Xinmima2027")
    project.fill("input[name=confirm_password]", "Xinmima2027")
    project.click("#change-password")
    project.goto(f"{base}/project/")
    assert "/project/" in project.url
    assert "浏览器测试安置房项目" in project.content()

    for ctx in (applicant, reviewer_ctx, project_ctx):
        ctx.close()
