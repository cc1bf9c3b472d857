"""Team notifications: workspace Slack settings and routes (secret encrypted like connections' credentials),
per-user preferences, events, deliveries (unique per event, user and channel) and snoozes.

Follows 0025 (in-app).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 03:10:54.848347
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slack_mode", sa.String(length=10), nullable=True),
        sa.Column("slack_secret_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("slack_channel", sa.String(length=80), nullable=True),
        sa.Column("slack_routes", sa.JSON(), nullable=False),
        sa.Column("escalation_hours", sa.Integer(), nullable=False),
        sa.Column("business_start", sa.Integer(), nullable=False),
        sa.Column("business_end", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("bands_checked_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notify_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_notify_settings_tenant_id")),
    )
    with op.batch_alter_table("notify_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_settings_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "notify_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("slack_user", sa.String(length=40), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("last_digest_on", sa.Date(), nullable=True),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notify_preferences_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notify_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_preferences")),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f("uq_notify_preferences_tenant_id_user_id")),
    )
    with op.batch_alter_table("notify_preferences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_preferences_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "notify_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("occurred_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fanned_out_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("escalated_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('alert', 'task_assigned', 'task_overdue', 'band_changed', 'play_step_due', 'escalation')",
            name=op.f("ck_notify_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_notify_events_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"],
            ["users.id"],
            name=op.f("fk_notify_events_acknowledged_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_notify_events_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_notify_events_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notify_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notify_events_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_events")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_notify_events_tenant_id_key")),
    )
    with op.batch_alter_table("notify_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_events_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_events_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index("ix_notify_events_fanout", ["tenant_id", "fanned_out_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "notify_snoozes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("until", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_notify_snoozes_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notify_snoozes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notify_snoozes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_snoozes")),
    )
    with op.batch_alter_table("notify_snoozes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notify_snoozes_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_snoozes_user_id"), ["user_id"], unique=False)

    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("slack_channel", sa.String(length=80), nullable=True),
        sa.Column("deliver_after", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("claimed_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('bell', 'email', 'digest', 'slack')", name=op.f("ck_notify_deliveries_channel")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'unknown')", name=op.f("ck_notify_deliveries_state")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["notify_events.id"],
            name=op.f("fk_notify_deliveries_event_id_notify_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_notify_deliveries_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notify_deliveries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_deliveries")),
        sa.UniqueConstraint(
            "tenant_id",
            "event_id",
            "user_id",
            "channel",
            name=op.f("uq_notify_deliveries_tenant_id_event_id_user_id_channel"),
        ),
    )
    with op.batch_alter_table("notify_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notify_deliveries_due", ["tenant_id", "channel", "state", "next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notify_deliveries_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_notify_deliveries_user", ["tenant_id", "user_id", "channel", "read_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notify_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_deliveries_user")
        batch_op.drop_index(batch_op.f("ix_notify_deliveries_tenant_id"))
        batch_op.drop_index("ix_notify_deliveries_due")

    op.drop_table("notify_deliveries")
    with op.batch_alter_table("notify_snoozes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_snoozes_user_id"))
        batch_op.drop_index(batch_op.f("ix_notify_snoozes_tenant_id"))

    op.drop_table("notify_snoozes")
    with op.batch_alter_table("notify_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_events_tenant_id"))
        batch_op.drop_index("ix_notify_events_fanout")
        batch_op.drop_index(batch_op.f("ix_notify_events_alert_id"))
        batch_op.drop_index(batch_op.f("ix_notify_events_account_id"))

    op.drop_table("notify_events")
    with op.batch_alter_table("notify_preferences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_preferences_tenant_id"))

    op.drop_table("notify_preferences")
    with op.batch_alter_table("notify_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_settings_tenant_id"))

    op.drop_table("notify_settings")
