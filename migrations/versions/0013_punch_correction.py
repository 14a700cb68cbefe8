"""Punch corrections (补卡, issue 11 point 5): a record of its own, approved by another person, never
mixed into the device punches

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "punch_correction",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("corrected_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(length=300), nullable=True),
        sa.Column("workflow_id", sa.String(length=100), nullable=True, unique=True),
    )
    op.create_index("ix_punch_correction_project_day", "punch_correction", ["project_id", "day"])
    op.create_index("ix_punch_correction_worker_id", "punch_correction", ["worker_id"])
    op.create_index("ix_punch_correction_status", "punch_correction", ["status"])


def downgrade() -> None:
    op.drop_table("punch_correction")
