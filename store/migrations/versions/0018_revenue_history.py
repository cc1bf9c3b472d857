"""Subscription history (versions, derived term ends and movements), renewal forecast calls, the workspace's
analytics settings, and the read-only ``bi`` views for analysts (PostgreSQL).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 19:46:55
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renewal_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("renewal_date", sa.Date(), nullable=False),
        sa.Column("checkpoint", sa.Integer(), nullable=False),
        sa.Column("call", sa.String(length=20), nullable=False),
        sa.Column("expected_arr", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("made_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "call IN ('commit', 'likely', 'monitor', 'at_risk', 'lost')", name=op.f("ck_renewal_calls_call")
        ),
        sa.CheckConstraint("checkpoint = 6 OR call != 'monitor'", name=op.f("ck_renewal_calls_no_monitor_at_3")),
        sa.CheckConstraint("checkpoint IN (6, 3)", name=op.f("ck_renewal_calls_checkpoint")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_renewal_calls_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_renewal_calls_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_renewal_calls_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_calls")),
        sa.UniqueConstraint(
            "tenant_id",
            "account_id",
            "renewal_date",
            "checkpoint",
            name=op.f("uq_renewal_calls_tenant_id_account_id_renewal_date_checkpoint"),
        ),
    )
    with op.batch_alter_table("renewal_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_renewal_calls_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_renewal_calls_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "subscription_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("arr_before", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("arr_after", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("delta", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('new', 'reactivation', 'expansion', 'contraction', 'churn', 'renewal')",
            name=op.f("ck_subscription_movements_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_subscription_movements_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subscription_movements_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_movements")),
        sa.UniqueConstraint(
            "tenant_id",
            "account_id",
            "day",
            "kind",
            name=op.f("uq_subscription_movements_tenant_id_account_id_day_kind"),
        ),
    )
    with op.batch_alter_table("subscription_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscription_movements_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_subscription_movements_tenant_day", ["tenant_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscription_movements_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "subscription_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("seen_on", sa.Date(), nullable=False),
        sa.Column("arr_before", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("arr_after", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("status_before", sa.String(length=20), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("renewal_before", sa.Date(), nullable=True),
        sa.Column("renewal_after", sa.Date(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_versions_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subscription_versions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_versions")),
    )
    with op.batch_alter_table("subscription_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscription_versions_subscription_id"), ["subscription_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscription_versions_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("term_end", sa.Date(), nullable=True))

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gross_margin", sa.Float(), server_default="0.8", nullable=False))
        batch_op.add_column(sa.Column("renewal_probabilities", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("bi_role", sa.String(length=63), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_tenants_bi_role"), ["bi_role"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SCHEMA IF NOT EXISTS bi")
        for name, body in BI_VIEWS.items():
            # security_barrier: the workspace filter runs before any function a BI query adds, so no
            # row of another workspace can leak through a cleverly chosen predicate.
            op.execute(f"CREATE VIEW bi.{name} WITH (security_barrier = true) AS {body} AND {_MINE}")


_MINE = "t.tenant_id = (SELECT id FROM tenants WHERE bi_role = current_user)"
"""The row filter of every view: the workspace whose BI role the session logged in as."""

BI_VIEWS = {
    "accounts": (
        "SELECT t.id AS account_id, t.name, t.domain, t.parent_id, t.segment, t.tier, t.lifecycle_stage, "
        "t.owner, u.email AS csm_email, t.health_band, CASE WHEN t.score_key < 0 THEN NULL ELSE t.score_key END "
        "AS score, CASE WHEN t.trend_key <= -1000 THEN NULL ELSE t.trend_key END AS trend, t.arr, "
        "t.renewal_key AS next_renewal, t.created_at FROM accounts t LEFT JOIN users u ON u.id = t.csm_user_id "
        "WHERE coalesce(t.lifecycle_stage, '') NOT IN ('merged', 'retired')"
    ),
    "daily_health": (
        "SELECT t.account_id, t.day, t.score, t.band, t.trend, t.profile FROM health_snapshots t WHERE true"
    ),
    "usage_daily": (
        "SELECT t.account_id, t.user_key, t.event, t.day, t.count, t.minutes FROM usage_daily t WHERE true"
    ),
    "subscriptions": (
        "SELECT t.id AS subscription_id, t.account_id, t.system, t.external_id, t.name, t.arr, t.mrr, "
        "t.start_date, t.renewal_date, t.term_end, t.status, t.seats_purchased, t.product_tier "
        "FROM subscriptions t WHERE true"
    ),
    "subscription_movements": (
        "SELECT t.account_id, t.day, t.kind, t.arr_before, t.arr_after, t.delta FROM subscription_movements t "
        "WHERE true"
    ),
    "tasks": (
        "SELECT t.id AS task_id, t.account_id, t.title, t.status, t.priority, t.source, t.due_date, "
        "t.created_at, t.completed_at, u.email AS assignee_email, t.owner, t.system "
        "FROM tasks t LEFT JOIN users u ON u.id = t.assignee_user_id WHERE true"
    ),
}
"""The read-only views a BI tool queries (docs/analytics.md, "For analysts"); each ends in a WHERE clause
the workspace filter is added to."""


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in BI_VIEWS:
            op.execute(f"DROP VIEW IF EXISTS bi.{name}")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tenants_bi_role"), type_="unique")
        batch_op.drop_column("bi_role")
        batch_op.drop_column("renewal_probabilities")
        batch_op.drop_column("gross_margin")

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("term_end")

    with op.batch_alter_table("subscription_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_versions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_subscription_versions_subscription_id"))

    op.drop_table("subscription_versions")
    with op.batch_alter_table("subscription_movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_movements_tenant_id"))
        batch_op.drop_index("ix_subscription_movements_tenant_day")
        batch_op.drop_index(batch_op.f("ix_subscription_movements_account_id"))

    op.drop_table("subscription_movements")
    with op.batch_alter_table("renewal_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_renewal_calls_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_renewal_calls_account_id"))

    op.drop_table("renewal_calls")
