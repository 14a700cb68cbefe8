"""Browser fixtures: Playwright driving Debian's Chromium (tests/helpers/browser.py)."""
from tests.helpers.browser import browser  # noqa: F401 - fixture
