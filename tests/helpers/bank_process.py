"""The reference bank as a real `shiming bank` child process, for the tests that start, stop or
restart a bank of their own, and the test ledger it pays from (tests/helpers/wage_files.py)."""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from bank_connectors.http import HttpBankConnector
from bank_connectors.keys import KeyPairs, PinnedBankKeys, load_pinned_bank_keys
from bank_connectors.signing import public_hex
from shiming.processes import ProcessGroup, free_port, http_ok, shiming_argv, wait_for
from tests.helpers.wage_files import LEDGER

REPO = Path(__file__).resolve().parents[2]


class BankProcess:
    """`shiming bank` as a child process on a free loopback port; `stop()` always ends it."""

    def __init__(self, home: Path, *args: str, port: int | None = None):
        self.home = home
        self.port = port or free_port()
        self.args = args
        self.group = ProcessGroup()
        self.keys_file = home.parent / f"{home.name}-public-keys.json"  # --keys-out: what the platform pins

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BankProcess":
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
        argv = shiming_argv("bank", "--home", str(self.home), "--port", str(self.port),
                            "--keys-out", str(self.keys_file), *self.args)
        proc = self.group.start("bank", argv, env, self.home.parent / f"{self.home.name}.log")
        try:
            wait_for(lambda: http_ok(self.url + "/api/v1/health"), 20, "reference bank", proc)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        self.group.kill("bank")

    def stop(self) -> None:
        self.group.stop_all()

    def pinned_keys(self) -> PinnedBankKeys:
        """The bank's public keys as the operator copies them to the platform (never fetched)."""
        return load_pinned_bank_keys(self.keys_file)

    def connector(self) -> HttpBankConnector:
        return HttpBankConnector(self.url, timeout=5)

    def admin(self, what: str, items: list) -> None:
        req = urllib.request.Request(f"{self.url}/api/v1/admin/{what}", data=json.dumps(items).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200


def write_ledger(path: Path, platform_keys: KeyPairs | None = None) -> Path:
    """The test ledger; with `platform_keys`, the platform's signing key is registered by it too."""
    trusted = [public_hex(platform_keys.signing.public_key())] if platform_keys else []
    path.write_text(json.dumps({**LEDGER, "platform_keys": trusted}, ensure_ascii=False), encoding="utf-8")
    return path
