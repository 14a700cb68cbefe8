"""A real running platform for cross-process tests: Temporal dev server, worker and web app.

Each runs as its own OS process, on free loopback ports, with its own data directory.
"""
from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from temporalio.client import Client

from domain.services import Services
from shiming.temporal import data_converter
from shiming.processes import ProcessGroup, free_port, http_ok, port_open, shiming_argv, temporal_argv, wait_for
from tests.conftest import make_services

TEST_PII_KEY = "11" * 32
TEST_PAYLOAD_KEY = "22" * 32  # encrypts Temporal payloads of the test stacks (shiming/temporal.py)
TEST_SECRET = "test-secret-key-" + "x" * 32


def run_in_thread(coro_fn):
    """asyncio.run(coro_fn()) on a fresh thread: works even where a loop is running (Playwright)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


@dataclass
class Stack:
    home: Path
    services: Services
    temporal_port: int
    ui_port: int
    web_port: int
    group: ProcessGroup = field(default_factory=ProcessGroup)
    extra_env: dict = field(default_factory=dict)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            SHIMING_ENV="test",
            SHIMING_HOME=str(self.home),
            SHIMING_DATABASE_URL=self.services.settings.database_url,
            SHIMING_SECRET_KEY=TEST_SECRET,
            SHIMING_PII_KEY=TEST_PII_KEY,
            SHIMING_AUDIT_KEY="33" * 32,  # the same as tests/conftest.make_settings
            SHIMING_PAYLOAD_KEY=TEST_PAYLOAD_KEY,
            SHIMING_TEMPORAL_ADDRESS=self.temporal_address,
            SHIMING_TEMPORAL_UI_URL=f"http://127.0.0.1:{self.ui_port}",
            SHIMING_PUBLIC_URL=self.web_url,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    async def client(self) -> Client:
        """A client with the platform's data converter (encrypted payloads), like the worker's."""
        return await Client.connect(self.temporal_address, data_converter=data_converter(self.services.settings))

    def start_temporal(self) -> None:
        proc = self.group.start("temporal", temporal_argv(self.temporal_port, self.ui_port, self.home / "temporal.db"),
                                self.env(), self.home / "temporal.log")
        wait_for(lambda: port_open(self.temporal_port), 60, "Temporal dev server", proc)
        # the frontend port opens a little before the namespace is ready
        run_in_thread(self._wait_namespace)

    async def _wait_namespace(self) -> None:
        for _ in range(100):
            try:
                client = await Client.connect(self.temporal_address)
                await client.count_workflows()
                return
            except Exception:  # noqa: BLE001 - not ready yet
                await asyncio.sleep(0.2)
        raise TimeoutError("Temporal namespace not ready")

    def start_worker(self) -> None:
        self.group.start("worker", shiming_argv("worker"), self.env(), self.home / "worker.log")

    def kill_worker(self) -> None:
        """SIGKILL the worker process (and its children): no clean shutdown."""
        self.group.kill("worker")

    def start_web(self) -> None:
        proc = self.group.start("web", shiming_argv("web", "--port", str(self.web_port)), self.env(),
                                self.home / "web.log")
        wait_for(lambda: http_ok(f"{self.web_url}/login"), 60, "web app", proc)

    def stop(self) -> None:
        self.group.stop_all()
        self.services.engine.dispose()

    def logs(self) -> str:
        parts = []
        for name in ("temporal", "worker", "web", "bank"):
            path = self.home / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name}.log ---\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)


def start_stack(home: Path, web: bool = True, worker: bool = True, database_url: Optional[str] = None) -> Stack:
    home.mkdir(parents=True, exist_ok=True)
    services = make_services(home, database_url, payload_keys=TEST_PAYLOAD_KEY)
    stack = Stack(home=home, services=services, temporal_port=free_port(), ui_port=free_port(), web_port=free_port())
    try:
        stack.start_temporal()
        if worker:
            stack.start_worker()
        if web:
            stack.start_web()
    except BaseException:
        print(stack.logs())
        stack.stop()
        raise
    return stack
