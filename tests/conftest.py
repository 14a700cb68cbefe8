"""Shared fixtures: a migrated, seeded database per test, and the engine binaries."""
from __future__ import annotations

import pytest

from domain.services import Services
from tests.helpers.services import DB_BACKENDS, make_services, mysql_url


@pytest.fixture
def services(tmp_path) -> Services:
    """A fresh SQLite database at the latest migration with the demo data."""
    svc = make_services(tmp_path)
    yield svc
    svc.engine.dispose()


@pytest.fixture(scope="session")
def private_mysql_url():
    """A database of this test session's own on the server SHIMING_TEST_MYSQL_URL names, dropped at
    the end: two suites on one server (a developer's and CI's) never empty each other's tables. Where
    the account may not create databases, the named database itself is used."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(mysql_url())
    name = f"{url.database or 'test'}_shiming_{secrets.token_hex(4)}"
    server = create_engine(url)
    try:
        with server.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    except Exception:  # noqa: BLE001 - no CREATE privilege: share the named database
        server.dispose()
        yield mysql_url()
        return
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


@pytest.fixture(params=DB_BACKENDS)
def any_db_services(request, tmp_path) -> Services:
    """Data-layer fixture: SQLite always, MySQL too when SHIMING_TEST_MYSQL_URL is set.

    The MySQL database (this session's own) is emptied first, so SQL that only SQLite accepts fails here.
    """
    if request.param == "sqlite":
        svc = make_services(tmp_path)
    else:
        from sqlalchemy import create_engine, text

        url = request.getfixturevalue("private_mysql_url")
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
