"""audit chain checkpoint (SEC-3): the head and the pruned base of the audit_log hash chain

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    table = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=True),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("base_id", sa.Integer(), nullable=True),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    # The one checkpoint row; its MAC is written by the first audited commit (the key is not known here).
    op.bulk_insert(table, [dict(id=1, chain_seq=0, head_id=None, head_hash=GENESIS, base_seq=0, base_id=None,
                                base_hash=GENESIS, mac=None, updated_at=None)])


def downgrade() -> None:
    op.drop_table("audit_chain")
