"""Campaigns (issue 17): workspace campaign settings (weekly cap, quiet hours, default time zone), campaigns, their
ordered steps, enrollments (one per person and campaign), per-step history, mail events (delivered, bounced,
opened, clicked, unsubscribed, complained), and the product user's time zone (from the collector).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 03:10:22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("weekly_cap", sa.Integer(), nullable=False),
        sa.Column("quiet_start", sa.Integer(), nullable=False),
        sa.Column("quiet_end", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_campaign_settings_tenant_id")),
    )
    with op.batch_alter_table("campaign_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_settings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("goal", sa.JSON(), nullable=True),
        sa.Column("conversion_days", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("category IN ('customer_success', 'marketing')", name=op.f("ck_campaigns_category")),
        sa.CheckConstraint("status IN ('draft', 'active', 'paused', 'finished')", name=op.f("ck_campaigns_status")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_campaigns_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaigns_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "mail_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('delivered', 'bounced', 'opened', 'clicked', 'unsubscribed', 'complained')",
            name=op.f("ck_mail_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["mail_outbox.id"], name=op.f("fk_mail_events_outbox_id_mail_outbox"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mail_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_events")),
    )
    with op.batch_alter_table("mail_events", schema=None) as batch_op:
        batch_op.create_index("ix_mail_events_outbox", ["tenant_id", "outbox_id", "kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaign_enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("user_key", sa.String(length=260), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("next_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enrolled_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("exited_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(length=20), nullable=True),
        sa.Column("converted_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("goal_reached_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_campaign_enrollments_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_enrollments_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_enrollments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_enrollments")),
        sa.UniqueConstraint("campaign_id", "email", name=op.f("uq_campaign_enrollments_campaign_id_email")),
    )
    with op.batch_alter_table("campaign_enrollments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_enrollments_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_campaign_enrollments_due", ["tenant_id", "exited_at", "next_at"], unique=False)
        batch_op.create_index("ix_campaign_enrollments_email", ["tenant_id", "email"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_enrollments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaign_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('send_email', 'send_in_app', 'wait', 'branch', 'create_task')",
            name=op.f("ck_campaign_steps_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_steps_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_steps_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_steps")),
        sa.UniqueConstraint("campaign_id", "position", name=op.f("uq_campaign_steps_campaign_id_position")),
    )
    with op.batch_alter_table("campaign_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_steps_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_steps_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaign_step_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_step_runs_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["campaign_enrollments.id"],
            name=op.f("fk_campaign_step_runs_enrollment_id_campaign_enrollments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["mail_outbox.id"],
            name=op.f("fk_campaign_step_runs_outbox_id_mail_outbox"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["campaign_steps.id"],
            name=op.f("fk_campaign_step_runs_step_id_campaign_steps"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaign_step_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_step_runs")),
    )
    with op.batch_alter_table("campaign_step_runs", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_step_runs_campaign", ["tenant_id", "campaign_id", "position"], unique=False)
        batch_op.create_index("ix_campaign_step_runs_enrollment", ["enrollment_id", "position"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_step_runs_outbox_id"), ["outbox_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_step_runs_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("product_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product_users", schema=None) as batch_op:
        batch_op.drop_column("time_zone")

    with op.batch_alter_table("campaign_step_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_step_runs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_step_runs_outbox_id"))
        batch_op.drop_index("ix_campaign_step_runs_enrollment")
        batch_op.drop_index("ix_campaign_step_runs_campaign")

    op.drop_table("campaign_step_runs")
    with op.batch_alter_table("campaign_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_steps_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_steps_campaign_id"))

    op.drop_table("campaign_steps")
    with op.batch_alter_table("campaign_enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_enrollments_tenant_id"))
        batch_op.drop_index("ix_campaign_enrollments_email")
        batch_op.drop_index("ix_campaign_enrollments_due")
        batch_op.drop_index(batch_op.f("ix_campaign_enrollments_account_id"))

    op.drop_table("campaign_enrollments")
    with op.batch_alter_table("mail_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_events_tenant_id"))
        batch_op.drop_index("ix_mail_events_outbox")

    op.drop_table("mail_events")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_tenant_id"))

    op.drop_table("campaigns")
    with op.batch_alter_table("campaign_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_settings_tenant_id"))

    op.drop_table("campaign_settings")
