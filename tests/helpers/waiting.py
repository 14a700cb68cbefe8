"""Waiting for something another process does, with a deadline and a clear failure."""
from __future__ import annotations

import time


def poll(fn, what: str, timeout: float = 90):
    """fn() until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def reload_until(page, predicate, what: str, timeout: float = 90.0) -> None:
    """Reload a Playwright page until predicate() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
        page.reload()
    raise AssertionError(f"timed out waiting for {what}")
