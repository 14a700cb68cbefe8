"""The web process's composition: what `create_app` needs is built here and passed in.

`web` imports nothing from `shiming` (tests/test_layering.py): the Temporal bridge the pages talk
through is built here, with the platform's data converter (payloads encrypted, shiming/temporal.py),
and handed to `web.create_app` with the services.
"""
from __future__ import annotations

from typing import Optional

from flask import Flask

from domain.services import Services
from domain.settings import Settings
from shiming.temporal import connect
from web import create_app
from web.iclock import routes as iclock
from web.temporal_bridge import TemporalBridge


def web_bridge(settings: Settings) -> TemporalBridge:
    """One Temporal client per web process, connected lazily with the platform's data converter."""
    return TemporalBridge(settings.temporal_address, settings.temporal_namespace, settings.task_queue,
                          connect=lambda: connect(settings))


def build_web_app(services: Services, config: Optional[dict] = None) -> Flask:
    """The Flask app of `shiming web`: the services and their bridge passed to the app factory,
    and the ZKTeco PUSH endpoints (/iclock/…, for off-the-shelf terminals; docs/zkteco.md)."""
    app = create_app(services, web_bridge(services.settings), config)
    iclock.init_app(app)
    return app
