"""Sign-in by mailed link, and jobs that belong to accounts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("sign_ins", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("sign_in_link_sent_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_jobs_account_id_users"),
            "users",
            ["account_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(
            "ix_jobs_account_id_created_at", ["account_id", "created_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_account_id_created_at")
        batch_op.drop_constraint(
            batch_op.f("fk_jobs_account_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("account_id")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("sign_in_link_sent_at")
        batch_op.drop_column("sign_ins")
