"""The score run reads a window of usage from an index alone: ``ix_usage_daily_account_day`` (account, day)
becomes ``ix_usage_daily_account_day_series`` (account, day, user, event, count).

A one-day score run reads each chunk's last 36 days of usage grouped by series (`sync.health._series_statement`:
``account_id IN (…) AND day BETWEEN …``). With the index on (account, day) every row found was then fetched from
the table for its user, event and count: on the 100,000-account bench about two thirds of that read. With the
columns in the index the read is the index's alone. The old index is dropped: its columns are the new one's
leading columns, so every query it served is served the same way (ranges of an account's days), and the table
keeps the same number of indexes to write.

Revision ID: 0034
Revises: 0032
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0034"
down_revision = "0032"
branch_labels = None
depends_on = None

COLUMNS = ["account_id", "day", "user_key", "event", "count"]


def upgrade() -> None:
    op.create_index("ix_usage_daily_account_day_series", "usage_daily", COLUMNS, unique=False)
    op.drop_index("ix_usage_daily_account_day", table_name="usage_daily")


def downgrade() -> None:
    op.create_index("ix_usage_daily_account_day", "usage_daily", ["account_id", "day"], unique=False)
    op.drop_index("ix_usage_daily_account_day_series", table_name="usage_daily")
