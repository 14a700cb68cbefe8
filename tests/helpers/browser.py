"""Browser for the page tests: Playwright driving Debian's Chromium (never a downloaded browser).
The `browser` fixture is taken by tests/e2e/conftest.py and the device browser tests."""
from __future__ import annotations

import os
import shutil

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
