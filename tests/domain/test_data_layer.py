"""The data layer on every supported database (SQLite always, MySQL/MariaDB when configured)."""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, func, select, text
from sqlalchemy.exc import IntegrityError

from domain import notify
from domain import registration as reg
from domain.models import (
    Account,
    AuditLog,
    Base,
    HumanTask,
    Notification,
    NotificationStatus,
    Project,
    RegistrationApplication,
    RegistrationStatus,
    Role,
)
from domain.passwords import verify_password
from shiming.db import alembic_config
from tests.helpers.factories import registration_data

PHONE = "13712349876"
TYPED_PHONE = "+86 137-1234-9876"


def new_application(services, **changes) -> tuple[int, str]:
    """Create a draft application; returns (id, number)."""
    with services.Session.begin() as session:
        data = dataclasses.replace(registration_data(session, phone=TYPED_PHONE), **changes)
        app, _token = reg.create_application(session, services.cipher, data)
        return app.id, app.number


def raw_row(services, table: str, row_id: int) -> dict:
    with services.engine.connect() as conn:
        return dict(conn.execute(text(f"SELECT * FROM {table} WHERE id = :id"), {"id": row_id}).mappings().one())


def assert_no_phone_digits(values) -> None:
    for value in values:
        assert PHONE not in str(value) and PHONE[3:] not in str(value), value


# ---- registration facts ----------------------------------------------------------------------


def test_application_stores_the_phone_only_encrypted(any_db_services):
    svc = any_db_services
    app_id, number = new_application(svc)

    row = raw_row(svc, "registration_application", app_id)
    assert_no_phone_digits(row.values())
    assert svc.cipher.decrypt(row["contact_phone_enc"], "phone") == PHONE
    assert row["contact_phone_hash"] == svc.cipher.lookup_hash(PHONE, "phone")
    with svc.engine.connect() as conn:
        audit_values = conn.execute(text("SELECT * FROM audit_log WHERE business_key = :k"), {"k": number}).all()
    assert audit_values
    assert_no_phone_digits(v for r in audit_values for v in r)


def test_application_is_found_by_number_and_phone_only_with_the_right_phone(any_db_services):
    svc = any_db_services
    app_id, number = new_application(svc)
    with svc.Session() as session:
        assert reg.find_by_number_and_phone(session, svc.cipher, number, PHONE).id == app_id
        assert reg.find_by_number_and_phone(session, svc.cipher, f" {number.lower()} ", TYPED_PHONE).id == app_id
        assert reg.find_by_number_and_phone(session, svc.cipher, number, "13712349875") is None
        assert reg.find_by_number_and_phone(session, svc.cipher, number, "") is None
        assert reg.find_by_number_and_phone(session, svc.cipher, "REG19990101000001", PHONE) is None


def test_chinese_text_including_supplementary_characters_round_trips(any_db_services):
    # Names of people and places may hold CJK Extension B characters (4 bytes in UTF-8).
    svc = any_db_services
    app_id, _number = new_application(svc, contact_name="𠀾丽华", address="南宁市青秀区𬱖路8号")
    with svc.Session() as session:
        app = session.get(RegistrationApplication, app_id)
        assert (app.contact_name, app.address) == ("𠀾丽华", "南宁市青秀区𬱖路8号")


@pytest.mark.parametrize("fen", [12_345_678_901_234, reg.MAX_CONTRACT_FEN])
def test_money_columns_keep_large_fen_amounts_exactly(any_db_services, fen):
    svc = any_db_services
    app_id, _number = new_application(svc, contract_value_fen=fen)
    with svc.Session.begin() as session:
        project, _account, _pw = reg.approve(session, svc.cipher, session.get(RegistrationApplication, app_id))
        project_id = project.id

    assert raw_row(svc, "registration_application", app_id)["contract_value_fen"] == fen
    assert raw_row(svc, "project", project_id)["contract_value_fen"] == fen
    with svc.Session() as session:
        value = session.get(RegistrationApplication, app_id).contract_value_fen
        assert type(value) is int and value == fen


def test_approving_twice_creates_one_project_and_one_account(any_db_services):
    svc = any_db_services
    app_id, _number = new_application(svc)
    results = []
    for _ in range(2):  # a retried activity runs in a new transaction
        with svc.Session.begin() as session:
            project, account, password = reg.approve(session, svc.cipher, session.get(RegistrationApplication, app_id))
            results.append((project.id, account.id, password))

    (project_id, account_id, first_pw), (project_id2, account_id2, second_pw) = results
    assert (project_id2, account_id2) == (project_id, account_id)
    assert first_pw and second_pw is None
    with svc.Session() as session:
        assert session.scalar(select(func.count()).select_from(Project).where(Project.registration_id == app_id)) == 1
        accounts = session.scalars(select(Account).where(Account.project_id == project_id)).all()
        assert len(accounts) == 1
        account = accounts[0]
        assert account.role == Role.PROJECT and account.must_change_password
        assert verify_password(account.password_hash, first_pw)
        project = session.get(Project, project_id)
        assert svc.cipher.decrypt(project.contact_phone_enc, "phone") == PHONE
        assert session.get(RegistrationApplication, app_id).project_id == project_id


def test_applied_correction_is_audited_and_keeps_the_phone_encrypted(any_db_services):
    svc = any_db_services
    app_id, number = new_application(svc)
    with svc.Session.begin() as session:
        app = session.get(RegistrationApplication, app_id)
        app.status = RegistrationStatus.RETURNED
        data = dataclasses.replace(reg.data_of(app, svc.cipher), name="更正后的项目名称")
        correction_id = reg.save_correction(session, svc.cipher, app, data, scan_file_id=None).id
    assert_no_phone_digits(raw_row(svc, "registration_correction", correction_id).values())

    for _ in range(2):  # applying twice changes nothing the second time
        with svc.Session.begin() as session:
            reg.apply_correction(session, svc.cipher, correction_id)

    with svc.Session() as session:
        app = session.get(RegistrationApplication, app_id)
        assert (app.name, app.revision, app.status) == ("更正后的项目名称", 2, RegistrationStatus.IN_REVIEW)
        actions = session.execute(
            select(AuditLog.action, AuditLog.target_type, AuditLog.target_id, AuditLog.detail, AuditLog.created_at)
            .where(AuditLog.business_key == number).order_by(AuditLog.id)
        ).all()
    assert [(a, t, i) for a, t, i, _d, _c in actions] == [
        ("registration.create", "registration", str(app_id)),
        ("registration.resubmit", "registration", str(app_id)),
    ]
    assert json.loads(actions[1].detail) == {"revision": 2}
    assert all(row.created_at is not None for row in actions)


# ---- inbox rows --------------------------------------------------------------------------------


def task(round_: int, title: str = "审核") -> HumanTask:
    return HumanTask(kind="registration_review", workflow_id="registration-REG20260101000042",
                     business_key="REG20260101000042", round=round_, title=title, candidate_role=Role.BUREAU_REVIEWER)


def test_one_task_per_workflow_kind_and_round(any_db_services):
    svc = any_db_services
    with svc.Session.begin() as session:
        session.add(task(1))
    with pytest.raises(IntegrityError):
        with svc.Session.begin() as session:
            session.add(task(1, title="重复"))
    with svc.Session.begin() as session:
        session.add(task(2))
    with svc.Session() as session:
        rounds = session.scalars(select(HumanTask.round).where(HumanTask.business_key == "REG20260101000042")).all()
    assert sorted(rounds) == [1, 2]


# ---- notification outbox -----------------------------------------------------------------------


class RecordingTransport:
    """Stands in for the SMS gateway: records what would have been sent (notify.Transport)."""

    def __init__(self, fail: bool = False):
        self.sent: list[tuple[str, Optional[str], Optional[int], str]] = []
        self.fail = fail

    def send(self, channel: str, phone: Optional[str], account_id: Optional[int], body: str) -> None:
        if self.fail:
            raise ConnectionError("SMS gateway unreachable")
        self.sent.append((channel, phone, account_id, body))


def enqueue(svc, key: str, **kwargs) -> int:
    with svc.Session.begin() as session:
        return notify.enqueue(session, svc.cipher, dedupe_key=key, **kwargs).id


def notification(svc, row_id: int) -> Notification:
    with svc.Session() as session:
        return session.get(Notification, row_id)


def test_enqueueing_the_same_dedupe_key_twice_keeps_one_row(any_db_services):
    svc = any_db_services
    first = enqueue(svc, "reg-42-approved", channel="sms", template="approved", body="您的项目已通过", phone=PHONE)
    second = enqueue(svc, "reg-42-approved", channel="sms", template="approved", body="changed", phone="13800000000")
    assert first == second
    with svc.Session() as session:
        rows = session.scalars(select(Notification).where(Notification.dedupe_key == "reg-42-approved")).all()
    assert len(rows) == 1
    assert notify.read_body(svc.cipher, rows[0]) == "您的项目已通过"
    assert_no_phone_digits(raw_row(svc, "notification", first).values())


def test_pending_notifications_are_delivered_once_and_marked_sent(any_db_services):
    svc = any_db_services
    account = svc.Session().scalar(select(Account.id).where(Account.username == "reviewer"))
    sms = enqueue(svc, "initial-password-7", channel="sms", template="initial_password",
                  body="初始密码 Abc12345xyz", phone=PHONE)
    inbox = enqueue(svc, "inbox-7", channel="inbox", template="task_assigned", body="新任务", account_id=account)
    assert "Abc12345xyz" not in raw_row(svc, "notification", sms)["body_enc"]
    transport = RecordingTransport()

    assert notify.deliver_pending(svc.Session, svc.cipher, transport) == 2
    assert transport.sent == [("sms", PHONE, None, "初始密码 Abc12345xyz")]  # inbox rows are not transmitted
    for row_id in (sms, inbox):
        row = notification(svc, row_id)
        assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
        assert row.sent_at is not None

    assert notify.deliver_pending(svc.Session, svc.cipher, transport) == 0
    assert len(transport.sent) == 1


def test_failed_delivery_stays_pending_for_a_retry(any_db_services):
    svc = any_db_services
    row_id = enqueue(svc, "reminder-9", channel="sms", template="reminder", body="请尽快审核", phone=PHONE)

    assert notify.deliver_pending(svc.Session, svc.cipher, RecordingTransport(fail=True)) == 0
    row = notification(svc, row_id)
    assert (row.status, row.attempts, row.sent_at) == (NotificationStatus.PENDING, 1, None)

    transport = RecordingTransport()
    assert notify.deliver_pending(svc.Session, svc.cipher, transport) == 1
    assert transport.sent == [("sms", PHONE, None, "请尽快审核")]
    assert notification(svc, row_id).status == NotificationStatus.SENT


# ---- schema ------------------------------------------------------------------------------------


def schema_differences(svc, metadata) -> list:
    with svc.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def test_migrated_database_is_at_the_head_revision(any_db_services):
    svc = any_db_services
    head = ScriptDirectory.from_config(alembic_config(svc.settings.database_url)).get_current_head()
    with svc.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_migrations_match_the_models(any_db_services):
    assert schema_differences(any_db_services, Base.metadata) == []


def test_schema_comparison_notices_a_model_change_without_migration(any_db_services):
    changed = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["district"].append_column(Column("short_name", String(20)))
    diffs = schema_differences(any_db_services, changed)
    assert [(d[0], d[2], d[3].name) for d in diffs] == [("add_column", "district", "short_name")]


def test_migration_0010_keeps_the_batch_hash_under_its_new_name(tmp_path):
    """bank_batch.file_sha256 held the wage file's plaintext hash: 0010 renames it plaintext_sha256,
    values kept (and back on downgrade)."""
    from alembic import command
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0009")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bank_batch (id, run_id, version, batch_id, file_sha256, line_count, total_fen, "
                          "status) VALUES (1, 1, 1, 'WR00000001V001', :sha, 2, 300, 'built')"), {"sha": "ab" * 32})
    command.upgrade(cfg, "0010")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT plaintext_sha256 FROM bank_batch WHERE id = 1")).scalar() == "ab" * 32
    command.downgrade(cfg, "0009")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT file_sha256 FROM bank_batch WHERE id = 1")).scalar() == "ab" * 32
    engine.dispose()
