"""activities/liveness.py: the heartbeat thread beats at the pace of the activity's own heartbeat
timeout (run in the SDK's ActivityEnvironment, which records each heartbeat)."""
from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from temporalio.testing import ActivityEnvironment

from activities.liveness import heartbeat_interval, heartbeat_until_done


def _beats(heartbeat_timeout: timedelta | None, body_seconds: float) -> list[float]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=heartbeat_timeout)
    beats: list[float] = []
    env.on_heartbeat = lambda *_details: beats.append(time.monotonic())

    def body() -> None:
        with heartbeat_until_done():
            time.sleep(body_seconds)

    env.run(body)
    return beats


def test_beats_five_times_per_heartbeat_timeout():
    """Only bounds that a loaded machine cannot break: a thread may run late, never early."""
    assert heartbeat_interval(timedelta(seconds=0.5)) == 0.1
    beats = _beats(timedelta(seconds=0.5), 0.75)  # one at the start, then every 0.1 s
    assert len(beats) >= 3  # the first at once, then at least two of the seven due
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert all(g >= 0.09 for g in gaps), gaps  # never faster than the pace


def test_a_longer_timeout_beats_less_often():
    assert len(_beats(timedelta(seconds=5), 0.5)) == 1  # the first beat only: the next is due after 1 s


def test_no_heartbeat_timeout_no_beats():
    assert _beats(None, 0.2) == []
    assert heartbeat_interval(None) is None and heartbeat_interval(timedelta(seconds=10)) == 2.0


def test_outside_an_activity_it_does_nothing():
    with heartbeat_until_done():
        pass
