"""Bank fixtures: the reference bank as a real `shiming bank` process, and a platform stand-in.

The stand-in is a small HTTP server playing the platform's statement callback: it records every
POST and answers 500 to the first N deliveries of a batch when told to, so retries can be seen.
One bank process serves the whole folder (HTTP and exchange channel); tests that stop or restart
a bank start their own with `BankProcess` (tests/helpers/bank_process.py).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bank_connectors.keys import KeyPairs, load_or_create_keys
from tests.helpers.bank_process import BankProcess, write_ledger


@dataclass
class Delivery:
    statement_id: str
    batch_id: str
    answered: int
    body: bytes


@dataclass
class PlatformCallback:
    """The platform's callback endpoint, as the bank sees it."""

    fail_first: dict[str, int] = field(default_factory=dict)  # batch id -> deliveries to answer 500
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/bank/statements"

    def record(self, body: bytes, headers) -> int:
        batch_id = headers.get("X-Batch-Id", "")
        with self.lock:
            earlier = sum(1 for d in self.deliveries if d.batch_id == batch_id)
            status = 500 if earlier < self.fail_first.get(batch_id, 0) else 200
            self.deliveries.append(Delivery(headers.get("Idempotency-Key", ""), batch_id, status, body))
        return status

    def for_batch(self, batch_id: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.batch_id == batch_id]

    def wait_acknowledged(self, batch_id: str, timeout: float = 10) -> Delivery:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [d for d in self.for_batch(batch_id) if d.answered == 200]
            if done:
                return done[0]
            time.sleep(0.05)
        raise TimeoutError(f"no statement for {batch_id} reached the callback: {self.for_batch(batch_id)}")


def _handler(callback: PlatformCallback):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = callback.record(body, self.headers)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="session")
def callback():
    cb = PlatformCallback()
    cb.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cb))
    thread = threading.Thread(target=cb.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield cb
    finally:
        cb.server.shutdown()
        cb.server.server_close()


@pytest.fixture(scope="session")
def platform_keys(tmp_path_factory) -> KeyPairs:
    return load_or_create_keys(tmp_path_factory.mktemp("platform") / "keys")


@pytest.fixture(scope="session")
def exchange_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exchange")


@pytest.fixture(scope="session")
def bank(tmp_path_factory, callback, platform_keys, exchange_dir) -> BankProcess:
    """One reference bank for the folder: HTTP with the callback above, and the exchange folder."""
    base = tmp_path_factory.mktemp("bank")
    ledger = write_ledger(base / "ledger.json", platform_keys)
    process = BankProcess(base / "home", "--callback-url", callback.url, "--exchange-dir", str(exchange_dir),
                          "--ledger", str(ledger), "--retry-cap", "1")
    process.start()
    try:
        yield process
    finally:
        process.stop()
