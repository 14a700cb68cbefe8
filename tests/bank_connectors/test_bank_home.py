"""The reference bank's home is its own (issue 8, point 10): beside the platform's data directory,
never inside it, mode 0700, its database and ledger 0600 — its ledger holds full card numbers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bank_connectors.reference_bank.bank import prepare_home
from shiming.dev import bank_home_for
from shiming.seed_payroll import write_private_file


def test_the_bank_home_is_a_sibling_of_the_platform_home(tmp_path, monkeypatch):
    monkeypatch.delenv("SHIMING_BANK_HOME", raising=False)
    assert bank_home_for(tmp_path / "var") == (tmp_path / "var-bank").resolve()
    monkeypatch.setenv("SHIMING_BANK_HOME", str(tmp_path / "elsewhere" / "bank"))
    assert bank_home_for(tmp_path / "var") == (tmp_path / "elsewhere" / "bank").resolve()
    for inside in (tmp_path / "var" / "bank", tmp_path / "var"):
        monkeypatch.setenv("SHIMING_BANK_HOME", str(inside))
        with pytest.raises(ValueError):
            bank_home_for(tmp_path / "var")


def test_the_bank_home_is_0700_and_its_files_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        home = tmp_path / "var-bank"
        prepare_home(home)
        write_private_file(home / "ledger.json", b"{}")
    finally:
        os.umask(old)
    assert home.stat().st_mode & 0o777 == 0o700
    for name in ("bank.db", "ledger.json"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name
    (home / "bank.db").chmod(0o644)  # a database left readable by an older version is tightened
    prepare_home(home)
    assert (home / "bank.db").stat().st_mode & 0o777 == 0o600


def test_the_running_bank_keeps_its_database_0600(bank):
    assert Path(bank.home).stat().st_mode & 0o777 == 0o700
    for name in ("bank.db", "bank.db-wal", "bank.db-shm"):
        path = Path(bank.home) / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name
