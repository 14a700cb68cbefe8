"""The web app for tests: its fixtures (the app with a fake Temporal bridge; tests/web/conftest.py
and the browser tests take them from here), logins, and a registration with its task.

`services` here is the root fixture's database (migrated with `shiming.db.migrate`, seeded with
`shiming.seed.seed_demo` through `tests.helpers.services.make_services`), built once per session and
copied for each test: seeding hashes every demo password with argon2, which would dominate the run time.
"""
from __future__ import annotations

import io
import shutil
import struct
import time
import zlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from domain import registration as reg
from domain.models import Account, District, HumanTask, RegistrationStatus, Role, TaskStatus, utcnow
from domain.services import Services
from shiming.seed import DEMO_ACCOUNTS, demo_credit_code
from tests.helpers.services import make_services, make_settings
from tests.helpers.fakes import FakeBridge
from tests.helpers.wage_scenario import wage_scenario
from web import create_app
from web.security import LAST_SEEN

PASSWORDS = {username: password for username, password, *_rest in DEMO_ACCOUNTS}
DB_NAME = "shiming.db"


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("web-template")
    svc = make_services(home)
    svc.engine.dispose()  # closes the last connection: the WAL is checkpointed into the file
    return home


@pytest.fixture
def services(_seeded_template, tmp_path) -> Services:
    for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
        if (_seeded_template / name).exists():
            shutil.copy(_seeded_template / name, tmp_path / name)
    svc = Services.build(make_settings(tmp_path))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def bridge() -> FakeBridge:
    return FakeBridge()


@pytest.fixture
def app(services, bridge):
    return create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def csrf_app(services, bridge):
    return create_app(services, bridge, {"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def platform(services) -> dict:
    """The wage scenario (tests/helpers/wage_scenario.py): four workers, a bound wage account and two
    payroll specialists with security passwords; {"project_id", "accounts"}."""
    return wage_scenario(services, workers=4)


def account_id(services: Services, username: str) -> int:
    with services.Session() as db:
        return db.scalar(select(Account.id).where(Account.username == username))


def login(client, username: str, password: str | None = None, next_url: str | None = None):
    """Log in through the form (the real path: password check, lockout bookkeeping, session)."""
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password or PASSWORDS[username]})


def enter_session(client, services: Services, username: str) -> None:
    """Be logged in as `username` without the password round trip (for access-matrix tests)."""
    with client.session_transaction() as sess:
        sess["_user_id"] = str(account_id(services, username))
        sess["_fresh"] = True
        sess[LAST_SEEN] = int(time.time())


def registration_form(**overrides) -> dict:
    data = {
        "name": "南宁示范测试项目",
        "address": "南宁市青秀区测试路8号",
        "district_id": "1",
        "builder_name": "测试建设单位",
        "builder_credit_code": demo_credit_code("12450100MB0000011"),
        "contractor_name": "测试总包有限公司",
        "contractor_credit_code": demo_credit_code("91450100MA5K9XY21"),
        "owner_name": "测试业主单位",
        "owner_credit_code": demo_credit_code("12450100MB0000012"),
        "contract_value": "1234567.89",
        "planned_start": "2026-12-01",
        "planned_end": "2027-12-31",
        "contact_name": "张联系",
        "contact_phone": "13912345678",
    }
    data.update(overrides)
    return data


def create_registration(services: Services, district_code: str = "450103", status: str = RegistrationStatus.IN_REVIEW,
                        task_status: str = TaskStatus.NEW, phone: str = "13912345678") -> dict:
    """An application as the process would have left it, with its review task row."""
    with services.Session.begin() as db:
        district = db.scalar(select(District).where(District.code == district_code))
        data = reg.RegistrationData(
            name="测试安置房项目", address="南宁市测试路1号", district_id=district.id,
            builder_name="测试建设单位", builder_credit_code=demo_credit_code("12450100MB0000021"),
            contractor_name="测试总包", contractor_credit_code=demo_credit_code("91450100MA5K9XY31"),
            owner_name="测试业主", owner_credit_code=demo_credit_code("12450100MB0000022"),
            contract_value_fen=98_765_432_10, planned_start=date(2026, 12, 1), planned_end=date(2027, 6, 30),
            contact_name="李联系", contact_phone=phone,
        )
        app, token = reg.create_application(db, services.cipher, data)
        app.status = status
        task = HumanTask(kind="registration_review", workflow_id=app.workflow_id, business_key=app.number, round=1,
                         title=app.name, status=task_status, candidate_role=Role.BUREAU_REVIEWER,
                         district_id=district.id, created_at=utcnow(), due_at=utcnow() + timedelta(days=3),
                         escalate_at=utcnow() + timedelta(days=6))
        db.add(task)
        db.flush()
        return {"id": app.id, "number": app.number, "token": token, "workflow_id": app.workflow_id,
                "task_id": task.id, "revision": app.revision}


def tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = zlib.compress(b"\x00\xff\xff\xff")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def tiny_pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
            b"trailer << /Root 1 0 R >>\n%%EOF\n")


def upload(data: bytes, filename: str) -> tuple:
    return (io.BytesIO(data), filename)


def as_english(client, services: Services, username: str):
    """`client` logged in as `username`, its pages in English."""
    enter_session(client, services, username)
    client.get("/lang/en")
    return client


def page_text(client, url: str) -> str:
    """The page at `url`, which must answer 200."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)
