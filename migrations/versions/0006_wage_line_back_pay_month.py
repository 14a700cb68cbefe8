"""wage_line.back_pay_month: the earlier month a back-pay (补发) line pays, "YYYY-MM"; NULL for the run's own month

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wage_line") as batch_op:
        batch_op.add_column(sa.Column("back_pay_month", sa.String(length=7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wage_line") as batch_op:
        batch_op.drop_column("back_pay_month")
