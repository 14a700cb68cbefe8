"""USB-key login for enterprise accounts (ACC-3): registered keys and server-side login challenges

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usb_key_credential",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.UniqueConstraint("account_id"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_table(
        "login_challenge",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("challenge_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("challenge_hash"),
    )
    op.create_index("ix_login_challenge_expires_at", "login_challenge", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_login_challenge_expires_at", table_name="login_challenge")
    op.drop_table("login_challenge")
    op.drop_table("usb_key_credential")
