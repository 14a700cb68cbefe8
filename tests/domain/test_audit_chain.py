"""SEC-3: the audit log is append-only and tamper-evident. Rows are written through `audit.record()`,
then changed, inserted and deleted in the database directly; `verify` (and `shiming audit verify`)
must name each. SQLite always, MySQL/MariaDB too when SHIMING_TEST_MYSQL_URL is set."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from domain import audit
from domain.models import AuditLog, utcnow
from domain.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]


def write(svc, count: int, tag: str = "t", per_commit: int = 1) -> list[int]:
    """`count` audit rows through record(), `per_commit` to a transaction; returns their ids."""
    rows = []
    for start in range(0, count, per_commit):
        with svc.Session.begin() as session:
            for i in range(start, min(count, start + per_commit)):
                rows.append(audit.record(session, actor_id=None, actor_name="测试 张三", action="test.write",
                                         target_type="test", target_id=f"{tag}-{i}", business_key=f"BK-{tag}",
                                         reason="原因 𠀾", detail={"i": i, "tag": tag}))
    return [row.id for row in rows]


def check(svc) -> audit.Report:
    with svc.Session() as session:
        return audit.verify(session, svc.settings.audit_key)


def kinds(report: audit.Report) -> list[tuple]:
    return [(p.row_id, p.kind) for p in report.problems]


def sql(svc, statement: str, **params) -> None:
    with svc.engine.begin() as conn:
        conn.execute(text(statement), params)


def last_id(svc) -> int:
    with svc.engine.connect() as conn:
        return conn.execute(text("SELECT MAX(id) FROM audit_log")).scalar()


def forge(svc, row_id: int, prev_hash, row_hash) -> None:
    sql(svc, "INSERT INTO audit_log (id, actor_id, actor_name, action, target_type, target_id, created_at, "
             "prev_hash, row_hash) VALUES (:id, NULL, '管理员', 'wage_run.settle_line', 'wage_line', '7', "
             ":at, :prev, :hash)", id=row_id, at=utcnow(), prev=prev_hash, hash=row_hash)


@pytest.fixture
def chained(any_db_services):
    """A database whose audit log holds the seed's rows plus 6 rows written through record()."""
    ids = write(any_db_services, 6, per_commit=2)
    return any_db_services, ids


# ---- an intact chain -----------------------------------------------------------------------------


def test_rows_written_through_record_form_one_intact_chain(chained):
    svc, ids = chained
    report = check(svc)
    assert report.ok, report.format()
    with svc.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, prev_hash, row_hash FROM audit_log ORDER BY id")).all()
    assert report.chained == len(rows) > 6 and report.head_id == rows[-1].id == ids[-1]
    assert rows[0].prev_hash == audit.GENESIS
    for before, row in zip(rows, rows[1:]):
        assert row.prev_hash == before.row_hash and len(row.row_hash) == 64


def test_concurrent_writers_in_separate_sessions_do_not_fork_the_chain(any_db_services):
    svc = any_db_services
    errors = []

    def writer(tag):
        try:
            write(svc, 15, tag=tag)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = check(svc)
    assert report.ok, report.format()
    with svc.Session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "test.write")) == 45
        assert session.scalar(select(func.count(func.distinct(AuditLog.prev_hash)))) == report.chained


def test_a_rolled_back_transaction_leaves_no_audit_row(chained):
    svc, ids = chained
    with pytest.raises(ZeroDivisionError):
        with svc.Session.begin() as session:
            audit.record(session, actor_id=None, actor_name="x", action="test.rollback", target_type="t", target_id=1)
            1 / 0
    with svc.Session.begin() as session:  # the same factory: nothing queued leaks into the next commit
        pass
    with svc.Session() as session:
        assert session.scalar(select(AuditLog).where(AuditLog.action == "test.rollback")) is None
    assert check(svc).ok


# ---- tampering, each caught and named ------------------------------------------------------------


@pytest.mark.parametrize("column, value", [("reason", "改过的原因"), ("actor_name", "someone else"),
                                           ("target_id", "t-99"), ("detail", None)])
def test_a_changed_field_is_named(chained, column, value):
    svc, ids = chained
    sql(svc, f"UPDATE audit_log SET {column} = :v WHERE id = :id", v=value, id=ids[2])
    assert kinds(check(svc)) == [(ids[2], audit.CHANGED)]


def test_a_changed_row_whose_hash_was_recomputed_without_the_key_is_named(chained):
    svc, ids = chained
    sql(svc, "UPDATE audit_log SET reason = 'x', row_hash = :h WHERE id = :id", h="ab" * 32, id=ids[3])
    assert kinds(check(svc)) == [(ids[3], audit.CHANGED)]


def test_a_changed_timestamp_is_named(chained):
    svc, ids = chained
    sql(svc, "UPDATE audit_log SET created_at = :at WHERE id = :id", at=utcnow() - timedelta(days=3), id=ids[1])
    assert kinds(check(svc)) == [(ids[1], audit.CHANGED)]


def test_an_inserted_row_is_named(chained):
    svc, ids = chained
    with svc.engine.connect() as conn:
        head_hash = conn.execute(text("SELECT row_hash FROM audit_log WHERE id = :id"), {"id": ids[-1]}).scalar()
    forge(svc, ids[-1] + 1, head_hash, "cd" * 32)  # linked to the real head, hash forged
    forge(svc, ids[-1] + 2, None, None)  # a plain row that bypassed the chain
    assert kinds(check(svc)) == [(ids[-1] + 1, audit.INSERTED), (ids[-1] + 2, audit.INSERTED)]


def test_a_copy_of_a_real_row_inserted_elsewhere_is_named(chained):
    svc, ids = chained
    sql(svc, "INSERT INTO audit_log (id, actor_id, actor_name, action, target_type, target_id, business_key, "
             "reason, detail, remote_addr, created_at, prev_hash, row_hash) SELECT :new, actor_id, actor_name, "
             "action, target_type, target_id, business_key, reason, detail, remote_addr, created_at, prev_hash, "
             "row_hash FROM audit_log WHERE id = :id", new=ids[-1] + 5, id=ids[2])
    assert kinds(check(svc)) == [(ids[-1] + 5, audit.INSERTED)]


def test_an_inserted_row_is_named_and_later_rows_still_verify(chained):
    svc, ids = chained
    forge(svc, ids[-1] + 1, None, None)
    more = write(svc, 2, tag="after")
    assert kinds(check(svc)) == [(ids[-1] + 1, audit.INSERTED)] and more[0] > ids[-1] + 1


def test_a_deleted_middle_row_is_named(chained):
    svc, ids = chained
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=ids[2])
    report = check(svc)
    assert kinds(report) == [(ids[3], audit.DELETED)]
    assert f"after row {ids[1]}, before row {ids[3]}" in report.format()


def test_a_deleted_newest_row_is_named(chained):
    svc, ids = chained
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=ids[-1])
    report = check(svc)
    assert kinds(report) == [(ids[-1], audit.DELETED)]
    assert "newest" in report.format()


def test_a_deleted_newest_row_stays_visible_after_new_rows_are_appended(chained):
    svc, ids = chained
    sql(svc, "DELETE FROM audit_log WHERE id >= :id", id=ids[-2])
    more = write(svc, 1, tag="after")
    assert kinds(check(svc)) == [(more[0], audit.DELETED)]


def test_a_row_linked_to_an_earlier_row_is_out_of_order(chained):
    # what a writer bypassing the chain lock would leave (a fork); made with the key, so only the link is wrong
    svc, ids = chained
    with svc.engine.connect() as conn:
        fork_from = conn.execute(text("SELECT row_hash FROM audit_log WHERE id = :id"), {"id": ids[1]}).scalar()
    values = dict(id=ids[-1] + 1, actor_id=None, actor_name="x", action="test.fork", target_type="t", target_id="1",
                  business_key=None, reason=None, detail=None, remote_addr=None, created_at=utcnow())
    sql(svc, "INSERT INTO audit_log (id, actor_name, action, target_type, target_id, created_at, prev_hash, row_hash) "
             "VALUES (:id, :actor_name, :action, :target_type, :target_id, :created_at, :prev, :hash)",
        prev=fork_from, hash=audit.row_mac(svc.settings.audit_key, fork_from, values), **values)
    assert kinds(check(svc)) == [(ids[-1] + 1, audit.OUT_OF_ORDER)]


def test_rewinding_the_checkpoint_to_hide_a_deletion_is_caught_and_stops_further_writes(chained):
    svc, ids = chained
    with svc.engine.connect() as conn:
        prev = conn.execute(text("SELECT row_hash FROM audit_log WHERE id = :id"), {"id": ids[-2]}).scalar()
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=ids[-1])
    sql(svc, "UPDATE audit_chain SET chain_seq = chain_seq - 1, head_id = :id, head_hash = :h",
        id=ids[-2], h=prev)
    assert kinds(check(svc)) == [(None, audit.CHECKPOINT)]
    with pytest.raises(audit.AuditChainError):  # the app does not launder the rewind by re-MACing it
        write(svc, 1, tag="after")
    assert kinds(check(svc)) == [(None, audit.CHECKPOINT)]


def test_resetting_the_checkpoint_is_caught(chained):
    svc, ids = chained
    sql(svc, "UPDATE audit_chain SET chain_seq = 0, head_id = NULL, head_hash = :g, mac = NULL", g=audit.GENESIS)
    assert kinds(check(svc)) == [(None, audit.CHECKPOINT)]


def test_verify_with_another_key_fails(chained):
    svc, ids = chained
    with svc.Session() as session:
        report = audit.verify(session, b"\x01" * 32)
    assert not report.ok and (None, audit.CHECKPOINT) in kinds(report)


# ---- no edits through the application --------------------------------------------------------------


def test_the_application_cannot_change_or_delete_audit_rows(chained):
    svc, ids = chained
    with pytest.raises(audit.AuditRowImmutable):
        with svc.Session.begin() as session:
            session.get(AuditLog, ids[0]).reason = "changed"
    with pytest.raises(audit.AuditRowImmutable):
        with svc.Session.begin() as session:
            session.delete(session.get(AuditLog, ids[0]))
    with pytest.raises(audit.AuditRowImmutable):
        with svc.Session.begin() as session:
            session.execute(update(AuditLog).where(AuditLog.id == ids[0]).values(reason="changed"))
    with pytest.raises(audit.AuditRowImmutable):
        with svc.Session.begin() as session:
            session.execute(delete(AuditLog).where(AuditLog.id == ids[0]))
    assert check(svc).ok


# ---- the command line ------------------------------------------------------------------------------


def run_cli(svc, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, SHIMING_HOME=str(svc.settings.home), SHIMING_DATABASE_URL=svc.settings.database_url,
               SHIMING_ENV="development", SHIMING_AUDIT_KEY=svc.settings.audit_key.hex())
    return subprocess.run([sys.executable, "-m", "shiming.cli", "audit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_shiming_audit_verify_reports_ok_then_each_problem_with_its_row(chained):
    svc, ids = chained
    ok = run_cli(svc, "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"OK: {check(svc).chained} audit rows")

    sql(svc, "UPDATE audit_log SET reason = 'x' WHERE id = :id", id=ids[1])
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=ids[3])
    forge(svc, ids[-1] + 1, None, None)
    bad = run_cli(svc, "verify")
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    assert lines[0].startswith("PROBLEMS: 3")
    assert any("CHANGED" in line and f"row {ids[1]}:" in line for line in lines)
    assert any("DELETED" in line and f"row {ids[4]}:" in line for line in lines)
    assert any("INSERTED" in line and f"row {ids[-1] + 1}:" in line for line in lines)


# ---- retention ------------------------------------------------------------------------------------


def test_prune_keeps_the_retention_period_and_the_chain_verifiable(any_db_services):
    svc = any_db_services
    old = write(svc, 3, tag="old")
    time.sleep(1.1)  # created_at has one-second resolution
    recent = write(svc, 3, tag="recent")
    with svc.Session() as session:
        recent_at = session.get(AuditLog, recent[0]).created_at
    later = recent_at + timedelta(days=180)  # the first recent row is exactly 180 days old then

    with svc.Session.begin() as session:
        dry = audit.prune(session, svc.settings.audit_key, 180, now=later, dry_run=True)
    with svc.Session.begin() as session:
        result = audit.prune(session, svc.settings.audit_key, 180, now=later)
    assert result.removed == dry.removed >= 3 and result.base_id == old[-1]
    with svc.Session() as session:
        assert session.scalar(select(func.min(AuditLog.id))) == recent[0]
    report = check(svc)
    assert report.ok and report.chained == 3 and report.pruned == result.removed, report.format()

    more = write(svc, 1, tag="after")  # the chain goes on from the pruned base
    assert check(svc).ok
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=recent[0])  # the oldest kept row still counts
    assert kinds(check(svc)) == [(recent[1], audit.DELETED)]
    assert more


def test_prune_refuses_less_than_180_days_and_a_damaged_chain(chained):
    svc, ids = chained
    with pytest.raises(audit.AuditChainError), svc.Session.begin() as session:
        audit.prune(session, svc.settings.audit_key, 179)
    sql(svc, "UPDATE audit_log SET reason = 'x' WHERE id = :id", id=ids[0])
    with pytest.raises(audit.AuditChainError, match="pruning refused"), svc.Session.begin() as session:
        audit.prune(session, svc.settings.audit_key, 180, now=utcnow() + timedelta(days=400))
    assert kinds(check(svc)) == [(ids[0], audit.CHANGED)]  # nothing was removed


def test_moving_the_pruned_base_to_hide_deleted_old_rows_is_caught(any_db_services):
    svc = any_db_services
    write(svc, 3, tag="a")
    with svc.Session.begin() as session:
        audit.prune(session, svc.settings.audit_key, 180, now=utcnow() + timedelta(days=400))
    ids = write(svc, 3, tag="b")
    with svc.engine.connect() as conn:
        h = conn.execute(text("SELECT row_hash FROM audit_log WHERE id = :id"), {"id": ids[0]}).scalar()
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=ids[0])
    sql(svc, "UPDATE audit_chain SET base_id = :id, base_hash = :h", id=ids[0], h=h)
    assert kinds(check(svc)) == [(None, audit.CHECKPOINT)]


def test_retention_is_configured_at_180_days_and_never_below(tmp_path, monkeypatch):
    base = dict(env="test", home=str(tmp_path), secret_key="k" * 40, pii_key="11" * 32)
    monkeypatch.delenv("SHIMING_AUDIT_RETENTION_DAYS", raising=False)
    assert Settings.from_env(**base).audit_retention_days == 180
    monkeypatch.setenv("SHIMING_AUDIT_RETENTION_DAYS", "365")
    assert Settings.from_env(**base).audit_retention_days == 365
    for bad in ("90", "179", "half a year"):
        monkeypatch.setenv("SHIMING_AUDIT_RETENTION_DAYS", bad)
        with pytest.raises(ConfigError):
            Settings.from_env(**base)


def test_the_audit_key_is_generated_in_development_and_required_in_production(tmp_path, monkeypatch):
    monkeypatch.delenv("SHIMING_AUDIT_KEY", raising=False)
    base = dict(home=str(tmp_path), secret_key="k" * 40, pii_key="11" * 32)
    key = Settings.from_env(env="development", **base).audit_key
    assert len(key) == 32 and (tmp_path / "audit_key").read_text().strip() == key.hex()
    assert Settings.from_env(env="development", **base).audit_key == key
    with pytest.raises(ConfigError, match="SHIMING_AUDIT_KEY"):
        Settings.from_env(env="production", **base)
    monkeypatch.setenv("SHIMING_AUDIT_KEY", "not hex")
    with pytest.raises(ConfigError, match="SHIMING_AUDIT_KEY"):
        Settings.from_env(env="development", **base)


def test_shiming_audit_prune_keeps_rows_within_retention(chained):
    svc, ids = chained
    dry = run_cli(svc, "prune", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("would remove 0 audit rows older than 180 days"), dry
    done = run_cli(svc, "prune")
    assert done.returncode == 0 and done.stdout.startswith("removed 0 audit rows"), done
    assert check(svc).ok
    sql(svc, "DELETE FROM audit_log WHERE id = :id", id=ids[0])
    refused = run_cli(svc, "prune")
    assert refused.returncode == 1 and "pruning refused" in refused.stderr


def test_rows_written_before_the_chain_existed_are_chained_by_the_first_audited_commit(tmp_path):
    from tests.helpers.services import make_services

    svc = make_services(tmp_path, seed=False)
    try:
        for i in (1, 2):  # what a database migrated from 0004 holds
            sql(svc, "INSERT INTO audit_log (actor_name, action, target_type, target_id, created_at) "
                     "VALUES ('old', 'legacy', 't', :i, :at)", i=str(i), at=utcnow())
        report = check(svc)
        assert report.ok and "has not started: 2 rows" in report.format()
        new = write(svc, 1)
        report = check(svc)
        assert report.ok and report.chained == 3 and report.head_id == new[0], report.format()
        sql(svc, "UPDATE audit_log SET actor_name = 'changed' WHERE id = 1")
        assert kinds(check(svc)) == [(1, audit.CHANGED)]
    finally:
        svc.engine.dispose()
