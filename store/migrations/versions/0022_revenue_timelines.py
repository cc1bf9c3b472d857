"""A workspace's ARR timeline kept between processes (built after a sync, read by every report request).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revenue_timelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("subscriptions", sa.Integer(), nullable=False),
        sa.Column("built_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("calibration", sa.JSON(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_revenue_timelines_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revenue_timelines")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_revenue_timelines_tenant_id")),
    )
    with op.batch_alter_table("revenue_timelines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_revenue_timelines_tenant_id"), ["tenant_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Several MB of NumPy arrays read whole on a report request: stored out of line, not compressed.
        op.execute("ALTER TABLE revenue_timelines ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    with op.batch_alter_table("revenue_timelines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revenue_timelines_tenant_id"))

    op.drop_table("revenue_timelines")
