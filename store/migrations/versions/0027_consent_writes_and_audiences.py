"""Consent write-back and saved audiences (issue 17): the workspace setting ``tenants.consent_writeback``,
``crm_consent_writes`` (one row per suppression and connected CRM, `sync.consent`) and ``campaign_audiences``
(the console's named audiences).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("consent_writeback", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "crm_consent_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suppression_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('queued', 'written', 'not_found', 'failed', 'skipped')",
                           name=op.f("ck_crm_consent_writes_state")),
        sa.ForeignKeyConstraint(["suppression_id"], ["mail_suppressions.id"],
                                name=op.f("fk_crm_consent_writes_suppression_id_mail_suppressions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_crm_consent_writes_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_consent_writes")),
        sa.UniqueConstraint("suppression_id", "system", name=op.f("uq_crm_consent_writes_suppression_id_system")),
    )
    with op.batch_alter_table("crm_consent_writes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_consent_writes_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_crm_consent_writes_due", ["tenant_id", "state", "next_attempt_at"], unique=False)
    op.create_table(
        "campaign_audiences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"],
                                name=op.f("fk_campaign_audiences_created_by_user_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_audiences_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_audiences")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_campaign_audiences_tenant_id_name")),
    )
    with op.batch_alter_table("campaign_audiences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_audiences_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_audiences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_audiences_tenant_id"))
    op.drop_table("campaign_audiences")
    with op.batch_alter_table("crm_consent_writes", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_consent_writes_due")
        batch_op.drop_index(batch_op.f("ix_crm_consent_writes_tenant_id"))
    op.drop_table("crm_consent_writes")
    with op.batch_alter_table("tenants", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("consent_writeback")
