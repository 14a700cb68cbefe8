"""maker-checker per enterprise, worker exit and site-access revocation, account hierarchy and
sessions, audit hash chain

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enterprise") as batch_op:
        batch_op.add_column(sa.Column("maker_checker", sa.Boolean(), server_default="1", nullable=False))
    with op.batch_alter_table("account") as batch_op:
        batch_op.add_column(sa.Column("company_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("can_collect", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("can_login", sa.Boolean(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("can_allocate_projects", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("created_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_foreign_key("fk_account_company", "company", ["company_id"], ["id"])
        batch_op.create_foreign_key("fk_account_created_by", "account", ["created_by"], ["id"])
    op.create_table(
        "account_project",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), primary_key=True),
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("project_worker") as batch_op:
        batch_op.add_column(sa.Column("exit_workflow_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("exit_requested_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("exit_requested_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_project_worker_exit_by", "account", ["exit_requested_by"], ["id"])
    op.create_table(
        "site_access_revocation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("project_worker_id", sa.Integer(), sa.ForeignKey("project_worker.id"), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("workflow_id", sa.String(length=100), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("project_worker_id", name="uq_revocation_engagement"),
    )
    op.create_index("ix_site_access_revocation_project_id", "site_access_revocation", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_site_access_revocation_project_id", table_name="site_access_revocation")
    op.drop_table("site_access_revocation")
    with op.batch_alter_table("project_worker") as batch_op:
        batch_op.drop_constraint("fk_project_worker_exit_by", type_="foreignkey")
        batch_op.drop_column("exit_requested_by")
        batch_op.drop_column("exit_requested_at")
        batch_op.drop_column("exit_workflow_id")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
    op.drop_table("account_project")
    with op.batch_alter_table("account") as batch_op:
        batch_op.drop_constraint("fk_account_created_by", type_="foreignkey")
        batch_op.drop_constraint("fk_account_company", type_="foreignkey")
        for name in ("session_epoch", "created_by", "can_allocate_projects", "can_login", "can_collect", "company_id"):
            batch_op.drop_column(name)
    with op.batch_alter_table("enterprise") as batch_op:
        batch_op.drop_column("maker_checker")
