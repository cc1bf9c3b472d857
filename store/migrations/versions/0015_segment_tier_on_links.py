"""Each vendor record remembers its segment, tier and employee count, so every account gets a segment
on the sync that creates it: the one a record names, else the one its employee count falls in
(`sync.writer.segment_for_employees`). Before, no adapter named a segment and only an account that
already existed took one from a record, so accounts had none and scoring never chose a segment's
profile.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("tier", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("employees", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.drop_column("employees")
        batch_op.drop_column("tier")
        batch_op.drop_column("segment")
