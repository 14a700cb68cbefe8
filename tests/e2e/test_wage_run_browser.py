"""The wage run through the payroll pages in a real browser, with two specialists (PAY-3…6).

Real processes: Temporal dev server, worker, web app and the reference bank. Specialist A opens
the run, uploads the wage table and the signed sheet; A may not submit the bank file
(maker-checker); specialist B submits it; the bank pays all lines but one (closed card); the
card is replaced, B re-issues the failed line and submits the new bank file; the run completes.
"""
from __future__ import annotations

import json
import random
import urllib.request

import pytest
from docx import Document
from sqlalchemy import select

from domain import workforce
from domain.models import WageLine, Worker
from shiming.seed_workforce import generate_card_number
from tests.helpers.browser import login
from tests.helpers.scan_samples import minimal_pdf
from tests.helpers.stack import start_wage_stack
from tests.helpers.wage_run_processes import scenario_ledger
from tests.helpers.wage_scenario import LOGIN_PASSWORD, MONTH, SECURITY_PASSWORDS
from tests.helpers.waiting import reload_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The processes of a wage run over the wage scenario (one card closed at the bank)."""
    s = start_wage_stack(tmp_path_factory.mktemp("wage"), scenario_ledger, "--retry-cap", "1")
    yield s
    s.stop()


# The run's chapters, in file order; each state-changing step is a module fixture the next chapter
# builds on, so a chapter run alone still finds the run where it expects it.


@pytest.fixture(scope="module")
def opened(stack, browser, tmp_path_factory):
    """Specialist A opens MONTH's run from the payroll page and downloads the prefilled wage table;
    the process waits for the table."""
    base, folder = stack.web_url, tmp_path_factory.mktemp("wage-browser")
    maker_ctx = browser.new_context(accept_downloads=True, locale="zh-CN")
    a = maker_ctx.new_page()
    login(a, base, "payroll_a", LOGIN_PASSWORD)
    a.goto(f"{base}/payroll/")
    a.fill("input[name=month]", MONTH)
    a.click("#open-run")  # opens the run and shows its page
    run_url = a.url
    a.goto(f"{base}/payroll/")
    listed = a.locator(f"#run-table tr[data-month='{MONTH}']").count()
    a.goto(run_url)
    reload_until(a, lambda: a.locator("#wage-table-form").count() == 1, "the process to wait for the wage table")
    with a.expect_download() as dl:
        a.click("#download-table")
    table = folder / "table.xlsx"
    dl.value.save_as(table)
    yield {"a": a, "run_url": run_url, "listed": listed, "table": table, "folder": folder}
    maker_ctx.close()


def test_the_specialist_opens_the_month_and_finds_its_run_listed(opened):
    assert "/payroll/run/" in opened["run_url"]
    assert opened["listed"] == 1


def test_a_wrong_security_password_submits_no_wage_table(opened):
    a = opened["a"]
    a.set_input_files("#table", str(opened["table"]))
    a.fill("#table-security-password", "wrong-password-1")
    a.click("#submit-wage-table")
    assert a.locator(".flash-error").count() >= 1  # wrong security password: nothing submitted


@pytest.fixture(scope="module")
def table_signed(opened):
    """Step 1: A uploads the prefilled table signed with the security password; step 2 opens."""
    a, run_url = opened["a"], opened["run_url"]
    a.goto(run_url)
    a.set_input_files("#table", str(opened["table"]))
    a.fill("#table-security-password", SECURITY_PASSWORDS["payroll_a"])
    a.click("#submit-wage-table")
    a.goto(run_url)
    reload_until(a, lambda: a.locator("#signed-sheet-form").count() == 1, "step 2")
    return opened


def test_the_sign_sheet_lists_the_accepted_tables_workers_and_the_table_comes_back_unchanged(stack, table_signed):
    a, run_url, services = table_signed["a"], table_signed["run_url"], stack.services
    with a.expect_download() as dl:
        a.click("#download-sign-sheet")
    assert dl.value.suggested_filename == f"工资签字表-{MONTH}.docx"
    printed = Document(dl.value.path())
    with services.Session() as session:
        names = list(session.scalars(select(Worker.name).join(WageLine, WageLine.worker_id == Worker.id)
                                     .where(WageLine.run_id == int(run_url.rstrip("/").rsplit("/", 1)[1]))
                                     .order_by(WageLine.seq)))
    assert [row.cells[1].text for row in printed.tables[0].rows[1:-1]] == names
    with a.expect_download() as dl:
        a.click("#download-accepted-table")
    assert dl.value.suggested_filename == f"已确认工资表-{MONTH}.xlsx"
    assert open(dl.value.path(), "rb").read() == table_signed["table"].read_bytes()


@pytest.fixture(scope="module")
def sheet_signed(table_signed):
    """Step 2: A uploads the scan the workers signed; step 3 waits, with the maker-checker rule for A."""
    a, run_url = table_signed["a"], table_signed["run_url"]
    sheet = table_signed["folder"] / "signed-sheet.pdf"
    sheet.write_bytes(minimal_pdf())
    a.set_input_files("#sheet", str(sheet))
    a.fill("#sheet-security-password", SECURITY_PASSWORDS["payroll_a"])
    a.click("#submit-signed-sheet")
    a.goto(run_url)
    reload_until(a, lambda: a.locator("#step-wage-file").count() == 1 and a.locator("#maker-checker-me").count() == 1,
                 "step 3 with the maker-checker rule")
    return table_signed


@pytest.fixture(scope="module")
def checker(stack, browser, sheet_signed):
    """Specialist B, logged in on the run's page at the wage-file form."""
    checker_ctx = browser.new_context(accept_downloads=True, locale="zh-CN")
    b = checker_ctx.new_page()
    login(b, stack.web_url, "payroll_b", LOGIN_PASSWORD)
    b.goto(sheet_signed["run_url"])
    reload_until(b, lambda: b.locator("#wage-file-form").count() == 1, "the bank file form")
    yield {**sheet_signed, "b": b}
    checker_ctx.close()


def test_the_other_specialist_downloads_the_sealed_wage_file(checker):
    b = checker["b"]
    with b.expect_download() as dl:
        b.click("#download-wage-file-1")
    envelope = json.loads(open(dl.value.path(), "rb").read())
    assert envelope["batch_id"].endswith("V001") and "ciphertext" in envelope


@pytest.fixture(scope="module")
def first_statement(checker):
    """Step 3: B submits the wage file; step 4: the bank's statement arrives through the callback
    and one line failed (the closed card)."""
    b = checker["b"]
    b.fill("#wage-file-security-password", SECURITY_PASSWORDS["payroll_b"])
    b.click("#submit-wage-file")
    b.goto(checker["run_url"])
    reload_until(b, lambda: b.locator("#line-table tr[data-status=failed]").count() == 1, "the failed line", 120)
    return checker


def test_the_bank_pays_every_line_but_the_closed_cards_and_the_page_masks_its_numbers(stack, first_statement):
    b, services = first_statement["b"], stack.services
    assert b.locator("#line-table tr[data-status=paid]").count() >= 1
    html = b.content()
    with services.Session() as session:
        failed = session.scalar(select(WageLine).where(WageLine.status == "failed"))
        worker = session.get(Worker, failed.worker_id)
        old_card = workforce.card_number_of(services.cipher, workforce.current_card(session, worker.id))
        id_number = workforce.id_number_of(services.cipher, worker)
    assert old_card not in html and id_number not in html  # masked on the page


def test_the_failed_line_reissued_to_the_replaced_card_completes_the_run(stack, first_statement):
    b, run_url, services = first_statement["b"], first_statement["run_url"], stack.services
    with services.Session() as session:
        failed = session.scalar(select(WageLine).where(WageLine.status == "failed"))
        worker = session.get(Worker, failed.worker_id)
    # the worker's card is replaced (the bank knows the new one); B re-issues the failed line
    new_card = generate_card_number(random.Random(11))
    with services.Session.begin() as session:
        workforce.set_card(session, services.cipher, session.get(Worker, worker.id), "中国工商银行", new_card)
    urllib.request.urlopen(urllib.request.Request(
        f"{stack.bank_url}/api/v1/admin/cards", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps([{"number": new_card, "holder_name": worker.name, "status": "open"}]).encode()), timeout=10)
    b.click("#reissue-failed")
    b.goto(run_url)
    reload_until(b, lambda: b.locator("#wage-file-form").count() == 1, "the re-issue bank file form")
    b.fill("#wage-file-security-password", SECURITY_PASSWORDS["payroll_b"])
    b.click("#submit-wage-file")
    b.goto(run_url)
    reload_until(b, lambda: b.get_attribute("#run-state", "data-status") == "completed", "the run to complete", 120)
    assert b.locator("#line-table tr[data-status=failed]").count() == 0
    with services.Session() as session:
        assert session.scalar(select(WageLine.status).where(WageLine.id == failed.id)) == "paid"
