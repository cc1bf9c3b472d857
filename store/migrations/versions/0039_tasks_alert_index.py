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

from alembic import op

revision = "0039"
down_revision = "0037"
branch_labels = None
depends_on = None

NAME = "ix_tasks_tenant_alert_completed"


def upgrade() -> None:
    op.create_index(NAME, "tasks", ["tenant_id", "alert_id", "completed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(NAME, table_name="tasks")
