"""The composition root (shiming/webapp.py) builds what the web needs and passes it in: `shiming web`
gets an app whose bridge reaches the engine named in the settings with the platform's data
converter (payloads encrypted), while `web` itself imports nothing from `shiming` (tests/test_layering.py)."""
from __future__ import annotations

import asyncio
import dataclasses

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shiming.temporal import EncryptionCodec, temporal_cli
from shiming.webapp import build_web_app


async def _codec(client: Client):
    return client.data_converter.payload_codec


def test_the_web_process_app_talks_to_the_configured_engine_through_the_platform_converter(services):
    with asyncio.Runner() as runner:
        env = runner.run(WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli()))
        try:
            address = env.client.service_client.config.target_host
            settings = dataclasses.replace(services.settings, temporal_address=address, task_queue="composed")
            app = build_web_app(dataclasses.replace(services, settings=settings), {"TESTING": True})
            bridge = app.extensions["shiming"]["bridge"]
            assert app.extensions["shiming"]["services"].settings is settings
            assert (bridge.address, bridge.namespace, bridge.task_queue) == (address, "default", "composed")
            assert isinstance(bridge.run(_codec, timeout=30), EncryptionCodec)
            assert app.test_client().get("/login").status_code == 200
        finally:
            runner.run(env.shutdown())
