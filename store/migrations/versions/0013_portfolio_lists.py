"""Portfolio lists: saved account segments with versions, memberships, history and follows.

New tables: ``portfolio_lists`` (name, shipped key, current version, last evaluated day),
``portfolio_list_versions`` (every saved definition, its author and time; editing adds one),
``portfolio_list_members`` (the accounts in a list now, since when, why),
``portfolio_list_events`` (entered/left with the day and reasons: the history plays will read) and
``portfolio_list_follows`` (user ↔ list). Nothing existing changes; the shipped lists are installed by
the first list evaluation of each workspace (`sync.lists`), not here, so the downgrade loses only these
tables' rows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portfolio_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("evaluated_on", sa.Date(), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_portfolio_lists_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portfolio_lists_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_lists")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_portfolio_lists_tenant_id_key")),
    )
    with op.batch_alter_table("portfolio_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_lists_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "portfolio_list_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('entered', 'left')", name=op.f("ck_portfolio_list_events_kind")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_portfolio_list_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["portfolio_lists.id"],
            name=op.f("fk_portfolio_list_events_list_id_portfolio_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portfolio_list_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_list_events")),
    )
    with op.batch_alter_table("portfolio_list_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_list_events_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_portfolio_list_events_day", ["tenant_id", "day"], unique=False)
        batch_op.create_index("ix_portfolio_list_events_list_day", ["tenant_id", "list_id", "day"], unique=False)
        batch_op.create_index(batch_op.f("ix_portfolio_list_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "portfolio_list_follows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["portfolio_lists.id"],
            name=op.f("fk_portfolio_list_follows_list_id_portfolio_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portfolio_list_follows_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_portfolio_list_follows_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_list_follows")),
        sa.UniqueConstraint("list_id", "user_id", name=op.f("uq_portfolio_list_follows_list_id_user_id")),
    )
    with op.batch_alter_table("portfolio_list_follows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_list_follows_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portfolio_list_follows_user_id"), ["user_id"], unique=False)

    op.create_table(
        "portfolio_list_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_portfolio_list_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["portfolio_lists.id"],
            name=op.f("fk_portfolio_list_members_list_id_portfolio_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portfolio_list_members_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_list_members")),
        sa.UniqueConstraint("list_id", "account_id", name=op.f("uq_portfolio_list_members_list_id_account_id")),
    )
    with op.batch_alter_table("portfolio_list_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_list_members_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            "ix_portfolio_list_members_page", ["tenant_id", "list_id", "entered_on", "account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portfolio_list_members_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "portfolio_list_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_portfolio_list_versions_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["portfolio_lists.id"],
            name=op.f("fk_portfolio_list_versions_list_id_portfolio_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portfolio_list_versions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_list_versions")),
        sa.UniqueConstraint("list_id", "version", name=op.f("uq_portfolio_list_versions_list_id_version")),
    )
    with op.batch_alter_table("portfolio_list_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_list_versions_list_id"), ["list_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portfolio_list_versions_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portfolio_list_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_list_versions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_portfolio_list_versions_list_id"))

    op.drop_table("portfolio_list_versions")
    with op.batch_alter_table("portfolio_list_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_list_members_tenant_id"))
        batch_op.drop_index("ix_portfolio_list_members_page")
        batch_op.drop_index(batch_op.f("ix_portfolio_list_members_account_id"))

    op.drop_table("portfolio_list_members")
    with op.batch_alter_table("portfolio_list_follows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_list_follows_user_id"))
        batch_op.drop_index(batch_op.f("ix_portfolio_list_follows_tenant_id"))

    op.drop_table("portfolio_list_follows")
    with op.batch_alter_table("portfolio_list_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_list_events_tenant_id"))
        batch_op.drop_index("ix_portfolio_list_events_list_day")
        batch_op.drop_index("ix_portfolio_list_events_day")
        batch_op.drop_index(batch_op.f("ix_portfolio_list_events_account_id"))

    op.drop_table("portfolio_list_events")
    with op.batch_alter_table("portfolio_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_lists_tenant_id"))

    op.drop_table("portfolio_lists")
