"""Source links keep the vendor record they stand for (name, domain, parent, cross refs)
and may wait for identity resolution (account_id NULL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:29:44.473847
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("domain", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("parent_external_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cross_refs", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("source_updated_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column("account_id", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    # Records not yet placed on an account cannot live in the older schema; the next sync pulls them again.
    op.execute("DELETE FROM source_links WHERE account_id IS NULL")
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("source_updated_at")
        batch_op.drop_column("cross_refs")
        batch_op.drop_column("parent_external_id")
        batch_op.drop_column("domain")
        batch_op.drop_column("name")
