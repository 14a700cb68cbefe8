"""ZKTeco PUSH (ATT-6): the commands queued for a device (user add for an admitted worker, user
delete for an exit's site-access revocation) and what the device answered; an index for finding
a device's punch by its own time (a ZKTeco line carries no sequence number)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_command",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("attendance_device.id"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("project_worker_id", sa.Integer(), sa.ForeignKey("project_worker.id"), nullable=False),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("site_access_grant.id"), nullable=True),
        sa.Column("revocation_id", sa.Integer(), sa.ForeignKey("site_access_revocation.id"), nullable=True),
        sa.Column("command_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("return_code", sa.Integer(), nullable=True),
    )
    op.create_index("ix_device_command_device_status", "device_command", ["device_id", "status"])
    op.create_index("ix_device_command_revocation", "device_command", ["revocation_id"])
    op.create_index("ix_punch_device_time", "punch", ["device_id", "device_time"])
    op.create_index("ix_punch_quarantine_device_time", "punch_quarantine", ["device_id", "device_time"])


def downgrade() -> None:
    op.drop_index("ix_punch_quarantine_device_time", table_name="punch_quarantine")
    op.drop_index("ix_punch_device_time", table_name="punch")
    op.drop_index("ix_device_command_revocation", table_name="device_command")
    op.drop_index("ix_device_command_device_status", table_name="device_command")
    op.drop_table("device_command")
