"""Attendance devices (issue 11): registered gates and terminals with their sealed secrets, the
device columns of punches (device, sequence, device time, skew, channel, photo), the quarantine of
punches for unknown workers, and the nonces of signed requests

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attendance_device",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("protocol", sa.String(length=10), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=True),
        sa.Column("allowed_sources", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("serial"),
    )
    op.create_index("ix_attendance_device_project_id", "attendance_device", ["project_id"])
    with op.batch_alter_table("punch") as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("device_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("device_time", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("skew_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("skew_flagged", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("channel", sa.String(length=10), server_default="seed", nullable=False))
        batch_op.add_column(sa.Column("photo_file_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("photo_sha256", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key("fk_punch_device_id", "attendance_device", ["device_id"], ["id"])
        batch_op.create_foreign_key("fk_punch_photo_file_id", "stored_file", ["photo_file_id"], ["id"])
        batch_op.create_unique_constraint("uq_punch_device_seq", ["device_id", "device_seq"])
    op.create_table(
        "punch_quarantine",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("attendance_device.id"), nullable=False),
        sa.Column("device_seq", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("worker_ref", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("device_time", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.UniqueConstraint("device_id", "device_seq", name="uq_quarantine_device_seq"),
    )
    op.create_index("ix_punch_quarantine_project_id", "punch_quarantine", ["project_id"])
    op.create_table(
        "device_request_nonce",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("attendance_device.id"), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("device_id", "nonce", name="uq_device_nonce"),
    )
    op.create_index("ix_device_request_nonce_seen_at", "device_request_nonce", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_device_request_nonce_seen_at", table_name="device_request_nonce")
    op.drop_table("device_request_nonce")
    op.drop_index("ix_punch_quarantine_project_id", table_name="punch_quarantine")
    op.drop_table("punch_quarantine")
    with op.batch_alter_table("punch") as batch_op:
        batch_op.drop_constraint("uq_punch_device_seq", type_="unique")
        batch_op.drop_constraint("fk_punch_photo_file_id", type_="foreignkey")
        batch_op.drop_constraint("fk_punch_device_id", type_="foreignkey")
        for column in ("photo_sha256", "photo_file_id", "channel", "skew_flagged", "skew_seconds",
                       "device_time", "device_seq", "device_id"):
            batch_op.drop_column(column)
    op.drop_index("ix_attendance_device_project_id", table_name="attendance_device")
    op.drop_table("attendance_device")
