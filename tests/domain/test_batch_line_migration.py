"""Migration 0008 keeps what is known of batches built before it: each wage line's latest batch,
wage-file sequence and card become that batch's recorded lines."""
from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from shiming.db import alembic_config


def test_upgrading_records_the_lines_of_existing_batches(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0007")
    engine = create_engine(url)
    with engine.begin() as db:  # the minimum of a run with two batches (this connection enforces no foreign keys)
        db.execute(text("INSERT INTO bank_card (id, worker_id, bank_name, card_number_enc, card_number_hash, last4, "
                        "is_current, created_at) VALUES (91, 1, 'b', 'x', 'h1', '0001', 1, '2026-11-01'), "
                        "(92, 2, 'b', 'y', 'h2', '0002', 1, '2026-11-01')"))
        db.execute(text("INSERT INTO bank_batch (id, run_id, version, batch_id, line_count, total_fen, status) "
                        "VALUES (7, 3, 1, 'B-1', 2, 30000, 'answered'), (8, 3, 2, 'B-2', 1, 10000, 'answered')"))
        for line_id, seq, version, file_seq, card_id, net in ((11, 1, 2, 1, 91, 10000), (12, 2, 1, 2, 92, 20000),
                                                              (13, 3, None, None, None, 5000)):
            db.execute(text("INSERT INTO wage_line (id, run_id, seq, worker_id, days, hours_x10, gross_fen, net_fen, "
                            "remark, status, batch_version, file_seq, card_id) VALUES "
                            f"({line_id}, 3, {seq}, {seq}, 20, 1600, {net}, {net}, '', 'paid', "
                            f"{'NULL' if version is None else version}, {'NULL' if file_seq is None else file_seq}, "
                            f"{'NULL' if card_id is None else card_id})"))
    command.upgrade(cfg, "0008")
    with engine.connect() as db:
        rows = db.execute(text("SELECT batch_id, line_id, file_seq, card_id, amount_fen FROM bank_batch_line "
                               "ORDER BY line_id")).all()
    assert [tuple(r) for r in rows] == [(8, 11, 1, 91, 10000), (7, 12, 2, 92, 20000)]
    command.downgrade(cfg, "0007")
    engine.dispose()
