"""The embedded panels' prepared view models (``panel_views``) and the workspace's panel epoch; existing
accounts' views are built as of their workspace's latest scored day.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("panel_epoch", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "panel_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("epoch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_panel_views_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_panel_views_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_views")),
        sa.UniqueConstraint("tenant_id", "account_id", name=op.f("uq_panel_views_tenant_id_account_id")),
    )
    with op.batch_alter_table("panel_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_panel_views_tenant_id"), ["tenant_id"], unique=False)
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Each workspace's accounts get their view as of the workspace's latest scored day (the day its last
    scoring run would have prepared); a workspace never scored gets none (built on the first request)."""
    latest = conn.execute(sa.text("SELECT tenant_id, MAX(day) FROM health_snapshots GROUP BY tenant_id")).all()
    if not latest:
        return
    import datetime as dt

    from sqlalchemy.orm import Session

    from store import panel_views
    from store.scoping import tenant_session

    for tenant_id, day in latest:
        as_of = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        ids = [a for (a,) in conn.execute(sa.text("SELECT id FROM accounts WHERE tenant_id = :t"), {"t": tenant_id})]
        session = tenant_session(lambda: Session(bind=conn), tenant_id)  # type: ignore[arg-type]
        try:
            panel_views.refresh(session, ids, as_of)
            session.flush()
        finally:
            session.close()


def downgrade() -> None:
    with op.batch_alter_table("panel_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_panel_views_tenant_id"))
    op.drop_table("panel_views")
    with op.batch_alter_table("tenants", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("panel_epoch")
