"""Shared fixtures: a migrated, seeded database per test, and the engine binaries."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture
def services(tmp_path) -> Services:
    """A fresh SQLite database at the latest migration with the demo data."""
    svc = make_services(tmp_path)
    yield svc
    svc.engine.dispose()


def mysql_url() -> str | None:
    return os.environ.get("SHIMING_TEST_MYSQL_URL") or None


DB_BACKENDS = ["sqlite"] + (["mysql"] if mysql_url() else [])


@pytest.fixture(params=DB_BACKENDS)
def any_db_services(request, tmp_path) -> Services:
    """Data-layer fixture: SQLite always, MySQL too when SHIMING_TEST_MYSQL_URL is set.

    The MySQL database is emptied first, so SQL that only SQLite accepts fails here.
    """
    if request.param == "sqlite":
        svc = make_services(tmp_path)
    else:
        from sqlalchemy import create_engine, text

        url = mysql_url()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for (name,) in conn.execute(text("SHOW TABLES")).all():
                conn.execute(text(f"DROP TABLE `{name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        engine.dispose()
        svc = make_services(tmp_path, database_url=url)
    yield svc
    svc.engine.dispose()
