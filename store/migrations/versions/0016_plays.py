"""Plays: definitions (a draft and published versions), runs (one running copy per play, account and
reason; a log each), the tasks a run made, and the workspace's owner-change policy for open tasks
(``automatic`` for existing workspaces: the tasks Canary made follow the account to its new owner).

The downgrade drops plays and runs; their tasks stay, as tasks without a play.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("evaluated_on", sa.Date(), nullable=True),
        sa.Column("assign_state", sa.JSON(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('draft', 'live', 'paused', 'off')", name=op.f("ck_plays_state")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_plays_created_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_plays_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plays")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_plays_tenant_id_key")),
    )
    with op.batch_alter_table("plays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plays_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "play_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("play_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=120), nullable=False),
        sa.Column("episode", sa.String(length=64), nullable=False),
        sa.Column("active_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("trigger_reasons", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("resume_on", sa.Date(), nullable=True),
        sa.Column("wait_task_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("started_by", sa.String(length=320), nullable=True),
        sa.Column("ended_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'closed', 'skipped', 'failed')", name=op.f("ck_play_runs_state")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_play_runs_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["play_id"], ["plays.id"], name=op.f("fk_play_runs_play_id_plays"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_play_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["wait_task_id"],
            ["tasks.id"],
            name=op.f("fk_play_runs_wait_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_play_runs")),
        sa.UniqueConstraint("tenant_id", "active_key", name=op.f("uq_play_runs_tenant_id_active_key")),
        sa.UniqueConstraint(
            "tenant_id",
            "play_id",
            "account_id",
            "reason",
            "episode",
            name=op.f("uq_play_runs_tenant_id_play_id_account_id_reason_episode"),
        ),
    )
    with op.batch_alter_table("play_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_play_runs_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_play_runs_play_state", ["tenant_id", "play_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_play_runs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "play_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("play_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"], name=op.f("fk_play_versions_author_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["play_id"], ["plays.id"], name=op.f("fk_play_versions_play_id_plays"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_play_versions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_play_versions")),
        sa.UniqueConstraint("play_id", "version", name=op.f("uq_play_versions_play_id_version")),
    )
    with op.batch_alter_table("play_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_play_versions_play_id"), ["play_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_play_versions_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("play_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("closed_reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_tasks_play_run_id"), ["play_run_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_play_run_id_play_runs"), "play_runs", ["play_run_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("task_reassign", sa.String(length=20), server_default="automatic", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_tenants_task_reassign"), "task_reassign IN ('none', 'automatic', 'all')"
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tenants_task_reassign"), type_="check")
        batch_op.drop_column("task_reassign")

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tasks_play_run_id_play_runs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tasks_play_run_id"))
        batch_op.drop_column("closed_reason")
        batch_op.drop_column("play_run_id")

    with op.batch_alter_table("play_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_play_versions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_play_versions_play_id"))

    op.drop_table("play_versions")
    with op.batch_alter_table("play_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_play_runs_tenant_id"))
        batch_op.drop_index("ix_play_runs_play_state")
        batch_op.drop_index(batch_op.f("ix_play_runs_account_id"))

    op.drop_table("play_runs")
    with op.batch_alter_table("plays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plays_tenant_id"))

    op.drop_table("plays")
