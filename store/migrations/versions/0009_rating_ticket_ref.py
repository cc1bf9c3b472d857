"""A satisfaction rating remembers the ticket it rates, so a ticket deleted in the help desk takes its
rating out of the customer's CSAT (the rating keeps no account, as a fresh sync would leave it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket_ref", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_column("ticket_ref")
