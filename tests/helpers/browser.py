"""Browser for the page tests: Playwright driving Debian's Chromium (never a downloaded browser).
The `browser` fixture is taken by tests/e2e/conftest.py and the device browser tests; the page
helpers log in, wait for a condition or an attribute, and open a task from the reviewer's queue."""
from __future__ import annotations

import os
import shutil
import time

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    path = os.environ.get("SHIMING_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        # No skip: CI installs chromium; a missing browser is a broken environment.
        raise RuntimeError("Chromium not found: apt-get install chromium (or set SHIMING_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: sync Playwright marks the thread as running an event loop while it lives."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def wait_until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def wait_attr(page, selector: str, attr: str, expected: str, what: str) -> None:
    """Reload `page` until `selector`'s `attr` equals `expected`."""

    def check():
        if page.get_attribute(selector, attr) == expected:
            return True
        page.reload()
        return False

    wait_until(check, what)


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login")


def open_task_from_queue(page, base: str, number: str) -> None:
    def row_visible():
        page.goto(f"{base}/bureau/inbox?view=queue")
        return page.locator(f"tr[data-business-key='{number}'] a.task-link").count() > 0

    wait_until(row_visible, f"{number} in the reviewer's queue")
    page.click(f"tr[data-business-key='{number}'] a.task-link")
    page.wait_for_selector("#task-state")  # the task page has loaded (content() mid-navigation is empty)
