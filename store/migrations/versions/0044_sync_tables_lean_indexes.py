"""The tables a pull writes keep only the indexes they are read by: the tenant-only indexes of ``contacts``,
``source_links``, ``subscriptions``, ``tickets`` and ``survey_responses`` dropped; ``survey_responses`` found by
its source reference, (tenant, source, source_ref), the key a pull's satisfaction ratings are looked up by.

Every row a pull writes wrote the tenant's index too, though each of those tables has a unique key (or, for
``contacts`` and ``subscriptions``, a (tenant, updated_at) index as well) whose first column is the tenant: a
query naming only the workspace reads that one's prefix. ``survey_responses`` had no unique key and no index on
``source_ref``: a page of ratings was looked up by reading every rating of the workspace (`sync.writer`).

Revision ID: 0044
Revises: 0042
Create Date: 2026-12-02 05:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0042"
branch_labels = None
depends_on = None

TENANT_ONLY = ("contacts", "source_links", "subscriptions", "tickets", "survey_responses")
"""Tables whose ``ix_<table>_tenant_id`` goes: another index or key starts with ``tenant_id``."""

SOURCE_REF = "ix_survey_responses_tenant_source_ref"


def upgrade() -> None:
    op.create_index(SOURCE_REF, "survey_responses", ["tenant_id", "source", "source_ref"], unique=False)
    for table in TENANT_ONLY:
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is not None:
        # statistics for the other indexes but none for the new one would mislead SQLite's planner (as 0039)
        op.execute("ANALYZE survey_responses")


def downgrade() -> None:
    for table in TENANT_ONLY:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"], unique=False)
    op.drop_index(SOURCE_REF, table_name="survey_responses")
