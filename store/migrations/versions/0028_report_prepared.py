"""Prepared copies of the Health, Adoption, Users and Team reports (`report_copies`), keyed by their parameters
and the fingerprint of the data they were built from (`sync.base_reports`).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

INDEXES = (("health_snapshots", "id"), ("usage_daily", "id"), ("accounts", "updated_at"),
           ("subscriptions", "updated_at"), ("tasks", "updated_at"), ("contacts", "updated_at"),
           ("product_users", "last_seen"))
"""(table, column): a workspace's newest row or change in one index read (`sync.base_reports._sources`)."""


def upgrade() -> None:
    op.create_table(
        "report_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=400), nullable=False),
        sa.Column("built_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_copies_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_copies")),
        sa.UniqueConstraint("tenant_id", "report", "key", name=op.f("uq_report_copies_tenant_id_report_key")),
    )
    with op.batch_alter_table("report_copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_copies_tenant_id"), ["tenant_id"], unique=False)
    # the copies' fingerprint in index reads; plain CREATE INDEX, no table rebuilt, so 0019's triggers stay
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_tenant_id_{column}", table, ["tenant_id", column], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is not None:
        # statistics for the old indexes but none for the new ones would make SQLite prefer a new one where it is
        # worse (MAX(day) of the snapshots by (tenant, id): a scan); without any statistics it chooses well
        for table, _ in INDEXES:
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_tenant_id_{column}", table_name=table)
    with op.batch_alter_table("report_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_copies_tenant_id"))
    op.drop_table("report_copies")
