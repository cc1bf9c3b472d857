"""E-mail: the outbox (rendered messages, states, retries, Message-IDs, unsubscribe tokens), the per-workspace
SMTP settings (password encrypted like connections' credentials), and suppressions per address and category.

Down-revision 0018: 0019 and 0020 land beside it and the chain is re-linked at merge.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 22:24:31
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("unsubscribe_token", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("permanent_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "category IN ('customer_success', 'marketing', 'transactional')", name=op.f("ck_mail_outbox_category")
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'sending', 'sent', 'failed', 'dead', 'unknown', 'suppressed')",
            name=op.f("ck_mail_outbox_state"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mail_outbox_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_mail_outbox_tenant_id_idempotency_key")),
        sa.UniqueConstraint("unsubscribe_token", name=op.f("uq_mail_outbox_unsubscribe_token")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_mail_outbox_due", ["tenant_id", "state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_outbox_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "mail_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("starttls", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=True),
        sa.Column("password_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mail_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_mail_settings_tenant_id")),
    )
    with op.batch_alter_table("mail_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_settings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "mail_suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("category IN ('customer_success', 'marketing')", name=op.f("ck_mail_suppressions_category")),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["mail_outbox.id"],
            name=op.f("fk_mail_suppressions_outbox_id_mail_outbox"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mail_suppressions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_suppressions")),
        sa.UniqueConstraint(
            "tenant_id", "address", "category", name=op.f("uq_mail_suppressions_tenant_id_address_category")
        ),
    )
    with op.batch_alter_table("mail_suppressions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_suppressions_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_suppressions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_suppressions_tenant_id"))

    op.drop_table("mail_suppressions")
    with op.batch_alter_table("mail_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_settings_tenant_id"))

    op.drop_table("mail_settings")
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_tenant_id"))
        batch_op.drop_index("ix_mail_outbox_due")

    op.drop_table("mail_outbox")
