"""Activity liveness: heartbeats, and named pause points for fault-injection tests.

Every wage-run activity runs with a short heartbeat timeout, so an activity lost with its worker
(SIGKILL, power cut) is retried on another worker after seconds, not after its start-to-close
timeout. `heartbeat_until_done()` keeps a background thread heartbeating while a synchronous
activity's body runs, a beat every fifth of that activity's own heartbeat timeout; the thread
carries the activity's context, which is all `activity.heartbeat` needs.

`pause_point(name, home)` lets a test stop a worker *inside* an activity: with
`SHIMING_FAULT_PAUSE=1` in the worker's environment, a test arms a point by creating
`<home>/fault-<name>.armed`; the first arrival renames it to `.paused` and blocks (the test then
kills the worker); later arrivals — the retry on the restarted worker — pass. Unset (production),
it costs one environment look-up.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

from temporalio import activity

BEATS_PER_TIMEOUT = 5  # a beat every fifth of the timeout: well inside it even on a loaded machine


def heartbeat_interval(timeout: timedelta | None) -> float | None:
    """Seconds between beats for an activity whose heartbeat timeout is `timeout` (None: none needed)."""
    if not timeout:
        return None
    return timeout.total_seconds() / BEATS_PER_TIMEOUT


@contextlib.contextmanager
def heartbeat_until_done() -> Iterator[None]:
    """Heartbeat from a background thread until the block ends, at the pace the activity's own
    heartbeat timeout asks (`activity.info().heartbeat_timeout`). Outside an activity, or for an
    activity started without a heartbeat timeout, it does nothing."""
    every = heartbeat_interval(activity.info().heartbeat_timeout) if activity.in_activity() else None
    if every is None:
        yield
        return
    stop = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(every):
            try:
                context.run(activity.heartbeat)
            except Exception:  # noqa: BLE001 - the activity is finishing or was cancelled
                return

    thread = threading.Thread(target=beat, name="activity-heartbeat", daemon=True)
    activity.heartbeat()
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 1)


def pause_point(name: str, home: Path) -> None:
    if os.environ.get("SHIMING_FAULT_PAUSE") != "1":
        return
    armed = Path(home) / f"fault-{name}.armed"
    try:
        os.rename(armed, armed.with_suffix(".paused"))  # atomic: one arrival takes the pause
    except FileNotFoundError:
        return  # not armed, or paused once already: the retry passes
    while True:  # until the test kills this process
        time.sleep(1)
