"""Report fact packs (`report_fact_packs`): per workspace, two rows (the Health part, the Team part) holding what
the Health and Team views of the whole base computed in a request read besides the tasks and alerts — per group
of each `by` the distribution's and weekly trend's cells, the benchmarks of every measure, the live accounts'
poor weeks; the Team report's per-account columns (`sync.base_reports`) — so such a view reads one row, not a
row per account.

No backfill: the worker's `prepare_base_reports` writes them beside the account facts (migration 0029); until then
(or while they are stale) the views read the account facts as before, with the same figures. On PostgreSQL the
blob is stored uncompressed (STORAGE EXTERNAL): it is mostly floats, which pglz would only spend time on.

Revision ID: 0037
Revises: 0034
Create Date: 2026-12-01 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0037"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_fact_packs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=10), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("built_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_fact_packs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_fact_packs")),
        sa.UniqueConstraint("tenant_id", "part", name=op.f("uq_report_fact_packs_tenant_id_part")),
    )
    with op.batch_alter_table("report_fact_packs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_fact_packs_tenant_id"), ["tenant_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE report_fact_packs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    with op.batch_alter_table("report_fact_packs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_fact_packs_tenant_id"))
    op.drop_table("report_fact_packs")
