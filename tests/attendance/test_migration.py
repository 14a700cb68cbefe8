"""Migration 0011 keeps every punch recorded before it: its row is unchanged, with the seed channel,
no device and no skew flag; the downgrade gives the table back as it was."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from shiming.db import alembic_config

_PROJECT_AND_WORKER = (
    "INSERT INTO district (id, code, name) VALUES (1, '450103', 'd')",
    "INSERT INTO project (id, code, district_id, status, created_at, name, address, builder_name, builder_credit_code, "
    "contractor_name, contractor_credit_code, owner_name, owner_credit_code, contract_value_fen, planned_start, "
    "planned_end, contact_name, contact_phone_enc, contact_phone_hash) VALUES (1, 'P1', 1, 'active', '2026-11-01', "
    "'p', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 1, '2026-11-01', '2027-11-01', 'h', 'x', 'y')",
    "INSERT INTO worker (id, name, id_number_enc, id_number_hash, created_at) VALUES (2, 'w', 'x', 'y', '2026-11-01')",
)


def test_upgrading_keeps_old_punches_on_the_seed_channel(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0010")
    engine = create_engine(url)
    with engine.begin() as db:
        for sql in _PROJECT_AND_WORKER:
            db.execute(text(sql))
        db.execute(text("INSERT INTO punch (id, dedupe_key, project_id, worker_id, direction, punched_at, device_code, "
                        "match_score, created_at) VALUES (5, 'k-5', 1, 2, 'in', '2026-11-02 00:30:00', 'G1', 870, "
                        "'2026-11-02 00:31:00')"))
    command.upgrade(cfg, "0011")
    with engine.connect() as db:
        row = db.execute(text("SELECT dedupe_key, punched_at, match_score, channel, skew_flagged, device_id, "
                              "device_seq FROM punch WHERE id = 5")).one()
    assert tuple(row) == ("k-5", "2026-11-02 00:30:00", 870, "seed", 0, None, None)
    with engine.begin() as db:  # (device, seq) is unique, while punches without a device are not limited
        db.execute(text("INSERT INTO punch (dedupe_key, project_id, worker_id, direction, punched_at, device_code, "
                        "created_at) VALUES ('k-6', 1, 2, 'out', '2026-11-02 09:30:00', 'G1', '2026-11-02 09:31:00')"))
    command.downgrade(cfg, "0010")
    columns = {c["name"] for c in inspect(engine).get_columns("punch")}
    assert "channel" not in columns and "device_seq" not in columns
    assert not inspect(engine).has_table("attendance_device")
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM punch")).scalar() == 2
    engine.dispose()
