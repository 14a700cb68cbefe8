"""A real running platform for cross-process tests: Temporal dev server, worker and web app.

Each runs as its own OS process, on free loopback ports, with its own data directory.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from temporalio.client import Client

from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from domain.services import Services
from shiming.temporal import data_converter
from shiming.processes import ProcessGroup, free_port, http_ok, port_open, shiming_argv, temporal_argv, wait_for
from tests.helpers.services import make_services

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
            SHIMING_AUDIT_KEY="33" * 32,  # the same as tests/helpers/services.make_settings
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

    @property
    def bank_home(self) -> Path:
        """The reference bank's own home: a sibling of the platform's, never inside it."""
        return self.home.parent / f"{self.home.name}-bank"

    @property
    def pinned_bank_keys(self) -> Path:
        """Where the platform reads the bank's keys (SHIMING_BANK_KEYS_FILE), copied there out of band."""
        return self.home / "bank-keys.json"

    def pin_bank_keys(self) -> None:
        """Point the platform's processes at the pinned key file (before they start)."""
        self.extra_env["SHIMING_BANK_KEYS_FILE"] = str(self.pinned_bank_keys)

    def start_bank(self, ledger: dict, *args: str, port: Optional[int] = None, name: str = "bank",
                   home: Optional[Path] = None, pin: bool = True):
        """`shiming bank` in its own home with `ledger`; its public key file is copied to the pinned
        place (the operator's out-of-band step) unless `pin` is False. Returns (process, url)."""
        home = home or self.bank_home
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        ledger_path = home / "ledger.json"
        ledger_path.write_text(json.dumps(ledger, ensure_ascii=False), encoding="utf-8")
        os.chmod(ledger_path, 0o600)
        port = port or free_port()
        keys_out = home / "public-keys.json"
        os.close(os.open(home / "bank.log", os.O_WRONLY | os.O_CREAT, 0o600))
        proc = self.group.start(name, shiming_argv(
            "bank", "--home", str(home), "--port", str(port), "--ledger", str(ledger_path),
            "--keys-out", str(keys_out), *args), self.env(), home / "bank.log")
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(f"{url}/api/v1/health"), 60, "reference bank", proc)
        if pin:
            tmp = self.pinned_bank_keys.with_name(".bank-keys.tmp")
            shutil.copyfile(keys_out, tmp)
            os.replace(tmp, self.pinned_bank_keys)
        return proc, url

    def platform_key(self) -> str:
        """The platform's public signing key as the bank registers it (`shiming bank --platform-key`)."""
        keys = load_or_create_keys(self.services.settings.home / "platform_keys")
        return public_hex(keys.signing.public_key())

    def logs(self) -> str:
        parts = []
        for path in [self.home / f"{name}.log" for name in ("temporal", "worker", "web")] + [
                self.bank_home / "bank.log"]:
            if path.exists():
                parts.append(f"--- {path.name} ---\n" + path.read_text(errors="replace")[-4000:])
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


def start_wage_stack(home: Path, ledger_of: Callable[[Services], dict], *bank_args: str,
                     exchange: Optional[Path] = None, worker_env: Optional[dict] = None,
                     before_worker: Optional[Callable[[Stack], None]] = None) -> Stack:
    """The processes of a wage run: Temporal, the web app (the bank's statement callback), the
    reference bank (`Stack.start_bank`: its keys pinned, the platform's key registered, paying from
    `ledger_of(services)`, `bank_args` added), then the worker (with `worker_env`, after
    `before_worker(stack)`). The platform reaches the bank over HTTP at `stack.bank_url`; with
    `exchange`, they meet in that folder instead (no web app, no callback)."""
    stack = start_stack(home, web=False, worker=False)
    try:
        stack.pin_bank_keys()
        args = [*bank_args, "--platform-key", stack.platform_key()]
        port = None
        if exchange is None:
            port = free_port()
            stack.extra_env["SHIMING_BANK_URL"] = f"http://127.0.0.1:{port}"
            stack.start_web()
            args = ["--callback-url", f"{stack.web_url}/api/bank/statements", *args]
        else:
            stack.extra_env["SHIMING_BANK_EXCHANGE_DIR"] = str(exchange)
            args = ["--exchange-dir", str(exchange), *args]
        _proc, stack.bank_url = stack.start_bank(ledger_of(stack.services), *args, port=port)
        if before_worker:
            before_worker(stack)
        stack.extra_env.update(worker_env or {})
        stack.start_worker()
    except BaseException:
        print(stack.logs())
        stack.stop()
        raise
    return stack
