"""Columns the usage collector writes are as long as the collector's validation allows.

On PostgreSQL a longer value fails its whole transaction, so one message with a 100-character
``groupId`` used to fail its batch: ``source_links.external_id`` 64 → 255 (a Segment ``groupId``),
``collected_messages.message_id`` 200 → 255 and ``survey_responses.source_ref`` 128 → 255 (a
``messageId``), ``product_users.user_key`` and ``usage_daily.user_key`` 255 → 260 (a 255-character
``anonymousId`` behind its ``anon:`` prefix). The downgrade refuses, naming the columns, while any
stored value is longer than the old length, rather than truncate it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.migrate import MigrationRefused

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# table, column, length before, length after, nullable
WIDENED = (
    ("source_links", "external_id", 64, 255, False),
    ("collected_messages", "message_id", 200, 255, False),
    ("survey_responses", "source_ref", 128, 255, True),
    ("product_users", "user_key", 255, 260, False),
    ("usage_daily", "user_key", 255, 260, False),
)


def _alter(to_new: bool) -> None:
    for table, column, old, new, nullable in WIDENED:
        before, after = (old, new) if to_new else (new, old)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=before), type_=sa.String(length=after),
                                  existing_nullable=nullable)


def upgrade() -> None:
    _alter(to_new=True)


def downgrade() -> None:
    bind = op.get_bind()
    too_long = []
    for table, column, old, _new, _nullable in WIDENED:
        count = bind.execute(sa.select(sa.func.count()).select_from(sa.table(table))
                             .where(sa.func.length(sa.column(column)) > old)).scalar_one()
        if count:
            too_long.append(f"{table}.{column} holds {count} value(s) longer than {old} characters")
    if too_long:
        raise MigrationRefused("downgrading below 0008 would truncate stored ids: " + "; ".join(too_long)
                               + ". Delete or shorten those rows first, or stay at revision 0008.")
    _alter(to_new=False)
