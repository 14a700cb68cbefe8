"""`shiming dev` out of the box (issue 8, points 9 and 10): the reference bank runs in its own home
beside the platform's data directory, writes its public key file, and the supervisor copies it to
where the web and the worker read it (SHIMING_BANK_KEYS_FILE) — the platform fetches no key. The
platform's data directory holds no full card number."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from bank_connectors.keys import load_or_create_keys, load_pinned_bank_keys
from bank_connectors.signing import public_hex
from bank_connectors.wagefile import Statement, StatementLine, sign_statement
from shiming.processes import free_port, http_ok, shiming_argv, wait_for
from tests.helpers.pii_sweep import sweep_home

pytestmark = pytest.mark.slow


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_shiming_dev_pins_the_reference_banks_keys_and_keeps_its_ledger_out_of_the_data_directory(tmp_path):
    home, bank_home = tmp_path / "var", tmp_path / "var-bank"
    ports = {name: free_port() for name in ("web", "temporal", "ui", "bank")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMING_")}
    env.update(SHIMING_HOME=str(home), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "dev.log", "wb")
    proc = subprocess.Popen(shiming_argv("dev", "--port", str(ports["web"]), "--temporal-port", str(ports["temporal"]),
                                         "--ui-port", str(ports["ui"]), "--bank-port", str(ports["bank"])),
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        web = f"http://127.0.0.1:{ports['web']}"
        wait_for(lambda: b"shiming is running" in (tmp_path / "dev.log").read_bytes(), 180, "shiming dev", proc)
        assert http_ok(f"{web}/login")
        pinned = load_pinned_bank_keys(home / "bank-keys.json")
        bank_keys = load_or_create_keys(bank_home / "keys").public()
        assert public_hex(pinned.signing) == public_hex(bank_keys.signing)
        assert public_hex(pinned.encryption) == public_hex(bank_keys.encryption)
        assert json.loads((bank_home / "public-keys.json").read_text()) == pinned.to_dict()

        # the web app judges statements by the pinned file: a key it was not given is refused
        stranger = load_or_create_keys(tmp_path / "stranger")
        body = sign_statement(Statement("ST-STRANGER", "WR00000001V001", issued_at="2026-12-01T00:00:00Z", lines=[
            StatementLine(1, "paid", 100, paid_at="2026-12-01T00:00:00Z")]), stranger.signing)
        assert _post(f"{web}/api/bank/statements", body) == 400

        # the bank's ledger (full card numbers) is in the bank's home, 0600 in a 0700 directory
        assert not list(home.rglob("*ledger*")) and not (home / "bank").exists()
        assert bank_home.stat().st_mode & 0o777 == 0o700
        for name in ("ledger.json", "bank.db"):
            assert (bank_home / name).stat().st_mode & 0o777 == 0o600, name
        ledger = json.loads((bank_home / "ledger.json").read_text())
        known = {card["number"]: "card_number" for card in ledger["cards"]}
        assert len(known) >= 10
        assert sweep_home(home, known) == {}
        assert sweep_home(bank_home, known) != {}  # the sweep finds them where they belong
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
