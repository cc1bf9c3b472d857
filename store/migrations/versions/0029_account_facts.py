"""Account facts for the Health and Team reports computed in a request (`account_facts`, `report_facts_state`):
per account its latest snapshot's day, score, band and measure values, and its week-end score and band of the
last weeks, so a cohort, `by` or CSM view is a filter and GROUP BY over a row per account (`sync.base_reports`).

No backfill here: the rows are built set-based by the worker's `prepare_base_reports` (after every sync and full
score run) with the same SQL the reports use; until then (no `report_facts_state` row) the reports read the
snapshots as before, with the same figures.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=10), nullable=True),
        sa.Column("measures", sa.LargeBinary(), nullable=True),
        sa.Column("week_scores", sa.LargeBinary(), nullable=False),
        sa.Column("week_bands", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_facts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_account_facts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_facts")),
        sa.UniqueConstraint("tenant_id", "account_id", name=op.f("uq_account_facts_tenant_id_account_id")),
    )
    with op.batch_alter_table("account_facts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_facts_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "report_facts_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("last_week", sa.Date(), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("built_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_facts_state_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_facts_state")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_report_facts_state_tenant_id")),
    )
    with op.batch_alter_table("report_facts_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_facts_state_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_facts_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_facts_state_tenant_id"))
    op.drop_table("report_facts_state")
    with op.batch_alter_table("account_facts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_facts_tenant_id"))
    op.drop_table("account_facts")
