"""In-app messages for the end users of the customer's product, their Web Push subscriptions, and the
per-workspace in-app settings (identity-verification secret, allowed origins, VAPID keys; secrets encrypted).

Follows 0023 (campaigns).

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-01 03:11:30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inapp_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("secret_rotated_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("vapid_private_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("vapid_public_key", sa.String(length=100), nullable=True),
        sa.Column("vapid_subject", sa.String(length=320), nullable=True),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_inapp_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inapp_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_inapp_settings_tenant_id")),
    )
    with op.batch_alter_table("inapp_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inapp_settings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=260), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("endpoint_hash", sa.String(length=64), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_before", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_push_subscriptions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("tenant_id", "endpoint_hash", name=op.f("uq_push_subscriptions_tenant_id_endpoint_hash")),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscriptions_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_push_subscriptions_user", ["tenant_id", "user_key"], unique=False)

    op.create_table(
        "inapp_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("user_key", sa.String(length=260), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("cta_label", sa.String(length=80), nullable=True),
        sa.Column("cta_url", sa.String(length=2000), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shown_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dismissed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("push_wanted", sa.Boolean(), nullable=False),
        sa.Column("pushed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("push_outcome", sa.String(length=20), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('banner', 'modal')", name=op.f("ck_inapp_messages_kind")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_inapp_messages_account_id_accounts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_inapp_messages_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inapp_messages")),
        sa.UniqueConstraint("tenant_id", "user_key", "ref", name=op.f("uq_inapp_messages_tenant_id_user_key_ref")),
    )
    with op.batch_alter_table("inapp_messages", schema=None) as batch_op:
        batch_op.create_index("ix_inapp_messages_pending", ["tenant_id", "user_key", "dismissed_at"], unique=False)
        batch_op.create_index("ix_inapp_messages_push_due", ["tenant_id", "push_wanted", "pushed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_inapp_messages_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inapp_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inapp_messages_tenant_id"))
        batch_op.drop_index("ix_inapp_messages_push_due")
        batch_op.drop_index("ix_inapp_messages_pending")

    op.drop_table("inapp_messages")
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_push_subscriptions_user")
        batch_op.drop_index(batch_op.f("ix_push_subscriptions_tenant_id"))

    op.drop_table("push_subscriptions")
    with op.batch_alter_table("inapp_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inapp_settings_tenant_id"))

    op.drop_table("inapp_settings")
