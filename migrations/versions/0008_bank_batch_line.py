"""Each batch's lines as sent (wage line, wage-file sequence, card, amount): a re-issue no longer
hides which card an earlier batch used (issue 8, point 8)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_batch_line",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("bank_batch.id"), nullable=False),
        sa.Column("line_id", sa.Integer(), sa.ForeignKey("wage_line.id"), nullable=False),
        sa.Column("file_seq", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("bank_card.id"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("batch_id", "file_seq", name="uq_bank_batch_line_seq"),
    )
    op.create_index("ix_bank_batch_line_batch_id", "bank_batch_line", ["batch_id"])
    op.create_index("ix_bank_batch_line_line_id", "bank_batch_line", ["line_id"])
    # what is still known of the batches built before: each wage line's latest batch and card
    op.execute(
        "INSERT INTO bank_batch_line (batch_id, line_id, file_seq, card_id, amount_fen) "
        "SELECT b.id, l.id, l.file_seq, l.card_id, l.net_fen FROM wage_line l "
        "JOIN bank_batch b ON b.run_id = l.run_id AND b.version = l.batch_version "
        "WHERE l.file_seq IS NOT NULL AND l.card_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_bank_batch_line_line_id", table_name="bank_batch_line")
    op.drop_index("ix_bank_batch_line_batch_id", table_name="bank_batch_line")
    op.drop_table("bank_batch_line")
