"""Usage facts for the Adoption and Users reports computed in a request (`usage_account_facts`,
`usage_user_facts`, `usage_facts_state`): per account its first day of use, product tier, seats, 30-day health
and distinct users (the window's, per key feature, per month), and per product user its active, key-feature and
login figures of the 60 days, so a cohort, another account's leaderboard or fewer months is a filter, GROUP BY
or ORDER BY … LIMIT over narrow rows (`sync.usage_facts`).

No backfill here: the rows are built set-based by the worker's `prepare_base_reports` (after every sync and full
score run) with the reports' own SQL; until then (no `usage_facts_state` row) the reports read the monthly rows
as before, with the same figures.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_account_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("first_active", sa.Date(), nullable=True),
        sa.Column("premium_tier", sa.String(length=50), nullable=True),
        sa.Column("other_tier", sa.String(length=50), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=True),
        sa.Column("snapshots", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("lowest_score", sa.Float(), nullable=True),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("users_now", sa.Integer(), nullable=False),
        sa.Column("users_before", sa.Integer(), nullable=False),
        sa.Column("usage", sa.LargeBinary(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_usage_account_facts_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_usage_account_facts_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_account_facts")),
        sa.UniqueConstraint("tenant_id", "account_id", name=op.f("uq_usage_account_facts_tenant_id_account_id")),
    )
    with op.batch_alter_table("usage_account_facts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_account_facts_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "usage_user_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=260), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("key_days", sa.Integer(), nullable=False),
        sa.Column("engagement", sa.Integer(), nullable=False),
        sa.Column("logins", sa.Integer(), nullable=False),
        sa.Column("logins_before", sa.Integer(), nullable=False),
        sa.Column("training", sa.Boolean(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_usage_user_facts_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_usage_user_facts_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_user_facts")),
        sa.UniqueConstraint("tenant_id", "account_id", "user_key",
                            name=op.f("uq_usage_user_facts_tenant_id_account_id_user_key")),
    )
    with op.batch_alter_table("usage_user_facts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_user_facts_tenant_id"), ["tenant_id"], unique=False)
        # the leaderboard's order: engagement and active days highest first, then account and user key
        batch_op.create_index("ix_usage_user_facts_tenant_rank", ["tenant_id", sa.text("engagement DESC"),
                                                                   sa.text("active DESC"), "account_id", "user_key"],
                              unique=False)
        batch_op.create_index("ix_usage_user_facts_tenant_training",
                              ["tenant_id", "training", "account_id", "user_key"], unique=False)
    op.create_table(
        "usage_facts_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("key_features", sa.Text(), nullable=False),
        sa.Column("login_event", sa.String(length=200), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("built_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_usage_facts_state_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_facts_state")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_usage_facts_state_tenant_id")),
    )
    with op.batch_alter_table("usage_facts_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_facts_state_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_facts_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_facts_state_tenant_id"))
    op.drop_table("usage_facts_state")
    with op.batch_alter_table("usage_user_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_user_facts_tenant_training")
        batch_op.drop_index("ix_usage_user_facts_tenant_rank")
        batch_op.drop_index(batch_op.f("ix_usage_user_facts_tenant_id"))
    op.drop_table("usage_user_facts")
    with op.batch_alter_table("usage_account_facts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_account_facts_tenant_id"))
    op.drop_table("usage_account_facts")
