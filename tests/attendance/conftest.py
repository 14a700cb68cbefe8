"""Attendance fixtures: the demo database (seeded once per session, copied per test, as tests/web
does: seeding hashes every demo password), a project with admitted workers, and the real web app
of `shiming web` (shiming/webapp.build_web_app; the device API needs no Temporal)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from domain.services import Services
from shiming.webapp import build_web_app
from tests.conftest import make_services, make_settings
from tests.helpers import attendance as att

DB_NAME = "shiming.db"


@pytest.fixture(scope="session")
def _seeded_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("attendance-template")
    svc = make_services(home)
    svc.engine.dispose()
    return home


@pytest.fixture
def services(_seeded_home, tmp_path) -> Services:
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        if (_seeded_home / name).exists():
            shutil.copy(_seeded_home / name, tmp_path / name)
    svc = Services.build(make_settings(tmp_path))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def site(services) -> att.Site:
    return att.site(services, workers=4)


@pytest.fixture
def app(services):
    return build_web_app(services, {"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def pages(services):
    """The same app with CSRF off for page posts (the API tests run with it on: the API is exempt)."""
    return build_web_app(services, {"TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def specialist(pages):
    """A browser logged in as the demo project account (the labour specialist), through the form."""
    client = pages.test_client()
    assert client.post("/login", data={"username": "project", "password": att.PASSWORDS["project"]}).status_code == 302
    return client
