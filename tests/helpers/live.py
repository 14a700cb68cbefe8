"""The web app against the real engine: a Temporal dev server, the real worker in this process
(real workflows and activities, the test's database) and the real TemporalBridge.

`LiveEngine` runs the dev server and the worker on a background event loop thread, so Flask's
test client (synchronous) talks to them exactly as a web process does. Used where a refusal must
travel the whole way: validator or activity → server → bridge → page.
"""
from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.services import Services
from shiming.temporal import data_converter, temporal_cli
from shiming.webapp import web_bridge
from shiming.worker import build_worker
from web.temporal_bridge import TemporalBridge


class LiveEngine:
    def __init__(self, services: Services):
        self.services = services
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-engine", daemon=True)
        self._thread.start()
        self._executor = ThreadPoolExecutor(max_workers=16)
        converter = data_converter(services.settings)
        self.env: WorkflowEnvironment = self.call(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=converter))
        self.address = self.env.client.service_client.config.target_host
        self.task_queue = services.settings.task_queue
        self.call(self._start_worker())

    async def _start_worker(self) -> None:
        # a Worker is built on the loop it polls from
        self.worker = build_worker(self.env.client, self.services, self._executor, task_queue=self.task_queue)
        self._running = asyncio.get_running_loop().create_task(self.worker.run())

    def call(self, coro: Awaitable[Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def client(self) -> Client:
        return self.env.client

    def bridge(self) -> TemporalBridge:
        """The bridge the web process's composition root builds (its own client, the platform's data
        converter), pointed at this engine."""
        return web_bridge(dataclasses.replace(self.services.settings, temporal_address=self.address,
                                              temporal_namespace="default", task_queue=self.task_queue))

    def run(self, fn: Callable[[Client], Awaitable[Any]], timeout: float = 60) -> Any:
        return self.call(fn(self.env.client), timeout)

    def stop(self) -> None:
        async def shutdown():
            await self.worker.shutdown()
            await self.env.shutdown()

        try:
            self.call(shutdown())
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
