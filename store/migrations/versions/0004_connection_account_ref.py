"""Connections record which vendor account they are (Zendesk subdomain, Salesforce org, HubSpot portal).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:32:56.298856
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_ref", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_connections_account_ref"), ["account_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connections_account_ref"))
        batch_op.drop_column("account_ref")
