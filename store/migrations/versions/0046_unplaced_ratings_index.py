"""The ratings not placed on an account, by their ticket: ``ix_survey_responses_unplaced_ticket`` (tenant, source,
ticket_ref) over the rows whose ``account_id`` is NULL (a partial index, on SQLite and PostgreSQL alike).

A satisfaction rating no longer brings its account from the vendor (the Zendesk adapter read each page's tickets
again only for their organization): the store places it on its stored ticket's account, and a rating stored before
its ticket (rated after the tickets pull, or fetched by id first) is placed when the ticket is first written
(`sync.writer.PageWriter._rated_before`). That write asks whether the system has any unplaced rating, then which
ones name its new tickets: both are reads of this index, which holds only those few rows (a rating placed when
written, as nearly all are, costs it nothing). An index of every rating by ticket would not answer the first
question: at 100,000 ratings, none unplaced, SQLite read all of them through it (18 ms for each page of tickets).

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-02 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

NAME = "ix_survey_responses_unplaced_ticket"
UNPLACED = "account_id IS NULL"


def upgrade() -> None:
    op.create_index(NAME, "survey_responses", ["tenant_id", "source", "ticket_ref"], unique=False,
                    sqlite_where=sa.text(UNPLACED), postgresql_where=sa.text(UNPLACED))
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is not None:
        # statistics for the other indexes but none for the new one would mislead SQLite's planner (as 0039, 0044)
        op.execute("ANALYZE survey_responses")


def downgrade() -> None:
    op.drop_index(NAME, table_name="survey_responses")
