"""bank_batch.file_sha256 → plaintext_sha256: the column holds the hash of the wage file before sealing
(the submission signs it), while file_id points at the sealed envelope.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_batch", recreate="never") as batch_op:  # a rename: no table copy (SQLite >= 3.25)
        batch_op.alter_column("file_sha256", new_column_name="plaintext_sha256",
                              existing_type=sa.String(length=64), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("bank_batch", recreate="never") as batch_op:  # a rename: no table copy (SQLite >= 3.25)
        batch_op.alter_column("plaintext_sha256", new_column_name="file_sha256",
                              existing_type=sa.String(length=64), existing_nullable=True)
