"""Usage collector: tenant write keys, product users, event types, seen message ids;
source links may now name the product itself.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:24:05.360334
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collected_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_collected_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collected_messages")),
        sa.UniqueConstraint("tenant_id", "message_id", name=op.f("uq_collected_messages_tenant_id_message_id")),
    )
    with op.batch_alter_table("collected_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collected_messages_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_collected_messages_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "event_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("first_seen", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_event_types_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_types")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_event_types_tenant_id_name")),
    )
    with op.batch_alter_table("event_types", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_types_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "product_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("first_seen", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_product_users_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_product_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_users")),
        sa.UniqueConstraint("tenant_id", "user_key", name=op.f("uq_product_users_tenant_id_user_key")),
    )
    with op.batch_alter_table("product_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_users_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_users_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("write_key_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_tenants_write_key_hash"), ["write_key_hash"])

    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_source_links_system"), type_="check")
        batch_op.create_check_constraint("system", "system IN ('salesforce', 'zendesk', 'hubspot', 'product')")


def downgrade() -> None:
    op.execute("DELETE FROM source_links WHERE system = 'product'")
    with op.batch_alter_table("source_links", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_source_links_system"), type_="check")
        batch_op.create_check_constraint("system", "system IN ('salesforce', 'zendesk', 'hubspot')")

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tenants_write_key_hash"), type_="unique")
        batch_op.drop_column("write_key_hash")

    with op.batch_alter_table("product_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_users_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_product_users_account_id"))

    op.drop_table("product_users")
    with op.batch_alter_table("event_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_types_tenant_id"))

    op.drop_table("event_types")
    with op.batch_alter_table("collected_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collected_messages_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_collected_messages_received_at"))

    op.drop_table("collected_messages")
