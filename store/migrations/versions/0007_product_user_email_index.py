"""Index product users by e-mail: scoring matches each sponsor and champion contact to its product user.

Without it the match scanned every product user once per contact (10,000 accounts: minutes).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 17:35:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product_users", schema=None) as batch_op:
        batch_op.create_index("ix_product_users_tenant_email", ["tenant_id", "email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("product_users", schema=None) as batch_op:
        batch_op.drop_index("ix_product_users_tenant_email")
