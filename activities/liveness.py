"""Activity liveness: heartbeats, and named pause points for fault-injection tests.

Every wage-run activity runs with a short heartbeat timeout, so an activity lost with its worker
(SIGKILL, power cut) is retried on another worker after seconds, not after its start-to-close
timeout. `heartbeating()` keeps a background thread heartbeating while a synchronous activity's
body runs; the thread carries the activity's context, which is all `activity.heartbeat` needs.

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
from pathlib import Path
from typing import Iterator

from temporalio import activity

from domain.processes.wage_run import HEARTBEAT_TIMEOUT

HEARTBEAT_EVERY = HEARTBEAT_TIMEOUT.total_seconds() / 5  # seconds (2); well inside the timeout even on a loaded machine


@contextlib.contextmanager
def heartbeating(every: float = HEARTBEAT_EVERY) -> Iterator[None]:
    if not activity.in_activity():
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
