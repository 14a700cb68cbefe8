"""Browser fixtures: Playwright driving Debian's Chromium (tests/helpers/browser.py)."""
from tests.helpers.browser import browser

__all__ = ["browser"]  # the fixtures this conftest gives its folder
