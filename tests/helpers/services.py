"""The platform's services over a fresh database for tests: settings with fixed test keys, migrated
and (by default) seeded with the demo data; `DB_BACKENDS` names the databases the data-layer
fixture runs on (MySQL when SHIMING_TEST_MYSQL_URL is set)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from domain.services import Services
from domain.settings import Settings
from shiming.db import migrate
from shiming.seed import seed_demo


def make_settings(home: Path, database_url: str | None = None, **overrides) -> Settings:
    return Settings.from_env(
        env="test",
        home=str(home),
        database_url=database_url or f"sqlite:///{home / 'shiming.db'}",
        secret_key="test-secret-key-" + "x" * 32,
        pii_key="11" * 32,
        audit_key="33" * 32,  # fixed like pii_key: a database copied to another home keeps its audit chain
        **overrides,
    )


def make_services(home: Path, database_url: str | None = None, seed: bool = True, **overrides) -> Services:
    settings = make_settings(home, database_url, **overrides)
    migrate(settings.database_url)
    services = Services.build(settings)
    if seed:
        seed_demo(services)
    return services


def mysql_url() -> str | None:
    return os.environ.get("SHIMING_TEST_MYSQL_URL") or None


DB_BACKENDS = ["sqlite"] + (["mysql"] if mysql_url() else [])


def copy_services(template: Path, tmp_path_factory) -> Services:
    """Services over a fresh copy of a prepared home (migrated, seeded and more, built once)."""
    home = tmp_path_factory.mktemp("copied-home")
    shutil.copytree(template, home, dirs_exist_ok=True)
    return Services.build(make_settings(home))
