"""Tasks in the CRMs: who a task is for, its priority, where it came from, when it was completed, and
one ``task_links`` row per CRM holding Canary's idempotency key (written before the create call), the
CRM's id and the state both sides last agreed on (`sync.tasks`).

Existing tasks become alert tasks of normal priority; a done task's completion time is not known, so
it stays empty. The downgrade drops the links (the CRM records stay where they are).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("priority", sa.String(length=10), server_default="normal", nullable=False))
        batch_op.add_column(sa.Column("source", sa.String(length=20), server_default="alert", nullable=False))
        batch_op.add_column(sa.Column("source_ref", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("completed_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_tasks_assignee_user_id_users"), "users",
                                    ["assignee_user_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_tasks_assignee_user_id"), ["assignee_user_id"], unique=False)
        batch_op.create_check_constraint(op.f("ck_tasks_source"), "source IN ('alert', 'play', 'manual')")
        batch_op.create_check_constraint(op.f("ck_tasks_priority"), "priority IN ('low', 'normal', 'high')")
    op.create_table(
        "task_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("system", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("sent", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempted_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("synced_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("system IN ('salesforce', 'zendesk', 'hubspot')", name=op.f("ck_task_links_system")),
        sa.CheckConstraint("state IN ('pending', 'created', 'failed', 'deleted')", name=op.f("ck_task_links_state")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_links_task_id_tasks"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_task_links_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_links")),
        sa.UniqueConstraint("tenant_id", "system", "key", name=op.f("uq_task_links_tenant_id_system_key")),
        sa.UniqueConstraint("tenant_id", "task_id", "system", name=op.f("uq_task_links_tenant_id_task_id_system")),
    )
    with op.batch_alter_table("task_links", schema=None) as batch_op:
        batch_op.create_index("ix_task_links_tenant_system_external", ["tenant_id", "system", "external_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_task_links_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_links_tenant_id"))
        batch_op.drop_index("ix_task_links_tenant_system_external")
    op.drop_table("task_links")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tasks_priority"), type_="check")
        batch_op.drop_constraint(op.f("ck_tasks_source"), type_="check")
        batch_op.drop_index(batch_op.f("ix_tasks_assignee_user_id"))
        batch_op.drop_constraint(batch_op.f("fk_tasks_assignee_user_id_users"), type_="foreignkey")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("source_ref")
        batch_op.drop_column("source")
        batch_op.drop_column("priority")
        batch_op.drop_column("assignee_user_id")
