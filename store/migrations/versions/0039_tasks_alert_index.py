"""The tasks done on an alert in one index range: ``ix_tasks_tenant_alert_completed`` (tenant, alert, completed at).

The Team report's "alerts acted on" reads, per alert, the first completion of the tasks made from it
(`sync.base_reports._task_tally`: ``alert_id IS NOT NULL`` and ``completed_at`` in the window, grouped by alert).
Without an index on the tasks' alert that read was a pass over every task of the workspace (on the
100,000-account bench a 15 ms sequential scan, whatever few tasks came from alerts); with it, the range of the
workspace's tasks that have an alert, in alert order (the grouping's), each row's completion time in the index.

Revision ID: 0039
Revises: 0037
Create Date: 2026-12-02 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0037"
branch_labels = None
depends_on = None

NAME = "ix_tasks_tenant_alert_completed"


def upgrade() -> None:
    op.create_index(NAME, "tasks", ["tenant_id", "alert_id", "completed_at"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is not None:
        # statistics for the old indexes but none for this one would make SQLite read every task of a workspace
        # through it (its tenant column leads), row by row, where it scans the table otherwise (the Team report's
        # tally: 107 ms, not 28, at 100,000 tasks); as 0028 does
        op.execute("ANALYZE tasks")


def downgrade() -> None:
    op.drop_index(NAME, table_name="tasks")
