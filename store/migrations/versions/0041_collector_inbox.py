"""The collector's inbox (`collector_inbox`): batches accepted by ``POST /v1/batch`` and not folded yet.

The collector answers once a batch's message ids are claimed and its messages are stored here, one row per
batch (a msgpack blob); the fold job (`collector.inbox.fold_pending`) turns a workspace's rows into accounts,
users, event types and usage, oldest first, and deletes them in the same transaction. No backfill: the table
starts empty. A downgrade drops it: fold what is pending first (`canary` runs a fold before every score run).

Revision ID: 0041
Revises: 0039
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0041"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collector_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_collector_inbox_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collector_inbox")),
    )
    with op.batch_alter_table("collector_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collector_inbox_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("collector_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collector_inbox_tenant_id"))
    op.drop_table("collector_inbox")
