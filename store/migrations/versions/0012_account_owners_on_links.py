"""Each vendor record remembers its owner (e-mail, the vendor's user id, whether still active), so sync
picks an account's owner among its records in one place (`sync.owners`: the CRM before the help desk)
and links the vendor users to Canary users whenever either side changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("owner_ref", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("owner_active", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.drop_column("owner_active")
        batch_op.drop_column("owner_ref")
        batch_op.drop_column("owner")
