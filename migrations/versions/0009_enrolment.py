"""Worker enrolment (ENR-1, ENR-4…7): the enrolment case, face consent and template, the worker's
app account, safety training, site-access grants, team leaders and the card-verified flag

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("team") as batch_op:
        batch_op.add_column(sa.Column("leader_name", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("leader_phone_enc", sa.String(length=200), nullable=True))
    with op.batch_alter_table("worker") as batch_op:
        batch_op.add_column(sa.Column("verified_by_card", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("face_consent", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("face_consent_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("face_consent_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("attendance_mode", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("emergency_contact_name", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("emergency_contact_phone_enc", sa.String(length=200), nullable=True))
        batch_op.create_foreign_key("fk_worker_face_consent_by", "account", ["face_consent_by"], ["id"])
    with op.batch_alter_table("project_worker") as batch_op:
        batch_op.add_column(sa.Column("contract_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("contract_end", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("enrolment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("admitted_at", sa.DateTime(), nullable=True))
    op.create_table(
        "face_template",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("template_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("worker_id"),
    )
    op.create_table(
        "worker_app_account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("login_hash", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("worker_id"),
        sa.UniqueConstraint("login_hash"),
    )
    op.create_table(
        "enrolment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("company_id", sa.Integer(), sa.ForeignKey("company.id"), nullable=False),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("team.id"), nullable=False),
        sa.Column("workflow_id", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("started_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("id_number_enc", sa.String(length=200), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("phone_enc", sa.String(length=200), nullable=False),
        sa.Column("verified_by_card", sa.Boolean(), nullable=False),
        sa.Column("card_valid_to", sa.Date(), nullable=True),
        sa.Column("trade", sa.String(length=10), nullable=False),
        sa.Column("daily_rate_fen", sa.BigInteger(), nullable=False),
        sa.Column("emergency_contact_name", sa.String(length=50), nullable=False),
        sa.Column("emergency_contact_phone_enc", sa.String(length=200), nullable=False),
        sa.Column("contract_start", sa.Date(), nullable=False),
        sa.Column("contract_end", sa.Date(), nullable=True),
        sa.Column("face_consent", sa.String(length=10), nullable=False),
        sa.Column("face_consent_at", sa.DateTime(), nullable=False),
        sa.Column("face_consent_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("staged_template_enc", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=True),
        sa.Column("project_worker_id", sa.Integer(), sa.ForeignKey("project_worker.id"), nullable=True),
        sa.Column("duplicate_decision", sa.String(length=10), nullable=True),
        sa.Column("duplicate_reason", sa.String(length=200), nullable=True),
        sa.Column("contract_file_id", sa.Integer(), sa.ForeignKey("stored_file.id"), nullable=True),
        sa.Column("contract_scan_file_id", sa.Integer(), sa.ForeignKey("stored_file.id"), nullable=True),
        sa.Column("contract_scanned_at", sa.DateTime(), nullable=True),
        sa.Column("contract_scanned_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=True),
        sa.Column("admitted_at", sa.DateTime(), nullable=True),
        sa.Column("cancelled_reason", sa.String(length=200), nullable=True),
        sa.UniqueConstraint("workflow_id"),
    )
    op.create_index("ix_enrolment_project_id", "enrolment", ["project_id"])
    op.create_index("ix_enrolment_state", "enrolment", ["state"])
    op.create_index("ix_enrolment_id_number_hash", "enrolment", ["id_number_hash"])
    op.create_table(
        "safety_training",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), sa.ForeignKey("enrolment.id"), nullable=True),
        sa.Column("course", sa.String(length=100), nullable=False),
        sa.Column("trained_on", sa.Date(), nullable=False),
        sa.Column("hours_x10", sa.Integer(), nullable=False),
        sa.Column("certificate_file_id", sa.Integer(), sa.ForeignKey("stored_file.id"), nullable=False),
        sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("enrolment_id"),
    )
    op.create_index("ix_safety_training_project_id", "safety_training", ["project_id"])
    op.create_index("ix_safety_training_worker_id", "safety_training", ["worker_id"])
    op.create_table(
        "site_access_grant",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), sa.ForeignKey("project.id"), nullable=False),
        sa.Column("worker_id", sa.Integer(), sa.ForeignKey("worker.id"), nullable=False),
        sa.Column("project_worker_id", sa.Integer(), sa.ForeignKey("project_worker.id"), nullable=False),
        sa.Column("workflow_id", sa.String(length=100), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("consumed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("project_worker_id", name="uq_grant_engagement"),
    )
    op.create_index("ix_site_access_grant_project_id", "site_access_grant", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_site_access_grant_project_id", table_name="site_access_grant")
    op.drop_table("site_access_grant")
    op.drop_index("ix_safety_training_worker_id", table_name="safety_training")
    op.drop_index("ix_safety_training_project_id", table_name="safety_training")
    op.drop_table("safety_training")
    op.drop_index("ix_enrolment_id_number_hash", table_name="enrolment")
    op.drop_index("ix_enrolment_state", table_name="enrolment")
    op.drop_index("ix_enrolment_project_id", table_name="enrolment")
    op.drop_table("enrolment")
    op.drop_table("worker_app_account")
    op.drop_table("face_template")
    with op.batch_alter_table("project_worker") as batch_op:
        for column in ("admitted_at", "enrolment_id", "contract_end", "contract_start"):
            batch_op.drop_column(column)
    with op.batch_alter_table("worker") as batch_op:
        batch_op.drop_constraint("fk_worker_face_consent_by", type_="foreignkey")
        for column in ("emergency_contact_phone_enc", "emergency_contact_name", "attendance_mode",
                       "face_consent_by", "face_consent_at", "face_consent", "verified_by_card"):
            batch_op.drop_column(column)
    with op.batch_alter_table("team") as batch_op:
        batch_op.drop_column("leader_phone_enc")
        batch_op.drop_column("leader_name")
