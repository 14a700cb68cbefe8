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


# The story's chapters, in file order; each state-changing step is a module fixture the next chapter
# builds on, so a chapter run alone still finds the application where it expects it.


@pytest.fixture(scope="module")
def applied(stack, browser, tmp_path_factory):
    """The applicant fills the form (no account) in the default Chinese interface: a wrong check
    character in a credit code first, then the right one; the application gets its number."""
    base = stack.web_url
    applicant = browser.new_context(accept_downloads=True, locale="zh-CN")
    page = applicant.new_page()
    page.goto(f"{base}/register/")
    chinese = "项目" in page.content()
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
    errors = page.locator(".has-error").count()
    with stack.services.Session() as session:
        saved = session.scalar(select(RegistrationApplication).where(
            RegistrationApplication.name == "浏览器测试安置房项目"))
    page.fill("input[name=owner_credit_code]", demo_credit_code("12450100MB0000008"))
    page.click("#submit-registration")
    number = page.get_attribute("#application-number", "data-number")
    yield {"page": page, "chinese": chinese, "errors": errors, "saved_when_refused": saved, "number": number,
           "application_url": page.url}
    applicant.close()


def test_a_bad_credit_code_is_refused_and_nothing_is_saved(applied):
    assert applied["chinese"]
    assert applied["errors"] >= 1
    assert applied["saved_when_refused"] is None


def test_the_application_gets_its_number_and_its_form_names_it(applied):
    number, page = applied["number"], applied["page"]
    assert number and number.startswith("REG")
    with page.expect_download() as dl:
        page.click("#download-docx")
    doc = Document(dl.value.path())
    assert number in "\n".join(p.text for p in doc.paragraphs)


@pytest.fixture(scope="module")
def in_review(applied, tmp_path_factory):
    """The applicant uploads the stamped scan: the application is in review."""
    page = applied["page"]
    scan = tmp_path_factory.mktemp("registration") / "stamped.png"
    scan.write_bytes(minimal_png(64, 64))
    page.goto(applied["application_url"])
    page.set_input_files("input[name=scan]", str(scan))
    page.click("#upload-scan")
    wait_attr(page, "#application-status", "data-status", "in_review", "the application to be in review")
    return applied


@pytest.fixture(scope="module")
def reviewer(stack, browser, in_review):
    """The reviewer, logged in, with the application's task open from the queue."""
    reviewer_ctx = browser.new_context(locale="zh-CN")
    page = reviewer_ctx.new_page()
    login(page, stack.web_url, "reviewer", "Review2026!")
    open_task_from_queue(page, stack.web_url, in_review["number"])
    yield {**in_review, "reviewer": page, "task_url": page.url}
    reviewer_ctx.close()


def test_the_reviewer_sees_the_scan_and_may_not_return_without_a_reason(reviewer):
    page = reviewer["reviewer"]
    assert page.locator("#view-scan").count() == 1
    page.click("#claim")
    page.wait_for_selector("#return")
    page.click("#return")  # no reason: the form refuses before anything is sent
    assert page.locator("#return-reason:invalid").count() == 1
    assert page.get_attribute("#task-state", "data-application-status") == "in_review"


@pytest.fixture(scope="module")
def returned(reviewer):
    """The reviewer (having claimed the task) returns it for correction with a reason."""
    page = reviewer["reviewer"]
    page.goto(reviewer["task_url"])
    if page.locator("#claim").count():
        page.click("#claim")
    page.wait_for_selector("#return")
    page.fill("#return-reason", "项目地址缺少门牌号，请补充")
    page.click("#return")
    page.goto(reviewer["task_url"])
    wait_attr(page, "#task-state", "data-application-status", "returned", "the return to be recorded")
    return reviewer


def test_the_applicant_reads_the_reason_by_number_and_phone_masked(stack, returned):
    page = returned["page"]
    page.goto(f"{stack.web_url}/register/status")
    page.fill("input[name=number]", returned["number"])
    page.fill("input[name=phone]", PHONE)
    page.click("#check-status")
    assert page.get_attribute("#application-status", "data-status") == "returned"
    assert "门牌号" in page.inner_text("#last-reason")
    assert PHONE not in page.content()  # masked wherever shown


@pytest.fixture(scope="module")
def corrected(stack, returned):
    """The applicant follows the correction link of the status page and resubmits."""
    page = returned["page"]
    page.goto(f"{stack.web_url}/register/status")
    page.fill("input[name=number]", returned["number"])
    page.fill("input[name=phone]", PHONE)
    page.click("#check-status")
    page.click("#correction-link")
    page.fill("input[name=address]", "南宁市青秀区浏览器路1号8栋")
    page.click("#submit-correction")
    page.goto(returned["application_url"])
    return {**returned, "status_after": page.get_attribute("#application-status", "data-status")}


def test_the_corrected_application_is_in_review_again(corrected):
    assert corrected["status_after"] == "in_review"


@pytest.fixture(scope="module")
def approved(stack, corrected):
    """The reviewer opens the corrected application from the queue, claims and approves it; the
    outbox holds the credentials SMS."""
    page = corrected["reviewer"]
    open_task_from_queue(page, stack.web_url, corrected["number"])
    shows_correction = "8栋" in page.content()
    task_url = page.url
    page.click("#claim")
    page.wait_for_selector("#approve")
    page.click("#approve")
    page.goto(task_url)
    wait_attr(page, "#task-state", "data-application-status", "approved", "the approval to be recorded")

    def credentials():
        with stack.services.Session() as session:
            row = session.scalar(select(Notification).where(Notification.template == "registration_approved"))
            return read_body(stack.services.cipher, row) if row else None

    body = wait_until(credentials, "the credentials SMS")
    return {**corrected, "shows_correction": shows_correction, "sms": body.split("|")}


def test_the_approval_sends_the_credentials_by_sms_never_on_screen(approved):
    assert approved["shows_correction"]
    _number, _username, password, _link = approved["sms"]
    assert _number == approved["number"]
    assert password not in approved["reviewer"].content()


def test_the_new_project_account_must_change_its_password_first(stack, browser, approved):
    base = stack.web_url
    _number, username, password, _link = approved["sms"]
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
    project_ctx.close()
