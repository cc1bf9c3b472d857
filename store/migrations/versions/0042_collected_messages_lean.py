"""The collector's claimed message ids keep only the indexes they are read by: ``ix_collected_messages_tenant_id``
and ``ix_collected_messages_received_at`` dropped.

Every accepted message claims its id with one insert into ``collected_messages`` (`collector.inbox`: the claim
is most of what an accepted batch writes), and each insert wrote four B-trees: the table, the unique
(tenant, message id) key the claim is checked against, and two secondary indexes nothing reads — the tenant's
rows are found through the unique key (its first column), and no query orders or filters by the time received.
Measured on the collector bench, about 0.8 µs of the request's ~13 µs per event.

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-02 04:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

TABLE = "collected_messages"


def upgrade() -> None:
    op.drop_index("ix_collected_messages_received_at", table_name=TABLE)
    op.drop_index("ix_collected_messages_tenant_id", table_name=TABLE)


def downgrade() -> None:
    op.create_index("ix_collected_messages_tenant_id", TABLE, ["tenant_id"], unique=False)
    op.create_index("ix_collected_messages_received_at", TABLE, ["received_at"], unique=False)
