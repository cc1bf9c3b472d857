"""Health legends (`health_legends`): per workspace and scoring model (its `scoring.model_fingerprint`), the model's
descriptors of every measure — ``{measure: {"signal", "dimension", "label"}}`` —, stored once. A snapshot written
from now on names its legend in its parts (``parts["legend"]``) and keeps per measure only what varies per account
(value, status, points, weight): at 100,000 accounts ≈ 1.6 KB of each row's ≈ 4.2 KB of parts was those three
descriptors, the same in every row of every day.

No data migration: the snapshots written before keep their self-describing parts and read as before
(`scoring.HealthScore.from_dict`: a part's own descriptors win). Downgrading drops the table: the snapshots written
meanwhile then read with each measure's name as its signal and label and no dimension.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-02 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_legends",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("legend", sa.JSON(), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_health_legends_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_legends")),
        sa.UniqueConstraint("tenant_id", "fingerprint", name=op.f("uq_health_legends_tenant_id_fingerprint")),
    )


def downgrade() -> None:
    op.drop_table("health_legends")
