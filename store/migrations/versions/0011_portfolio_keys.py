"""The portfolio's sort and filter values on the account row, under indexes that page in order.

``accounts`` gets ``health_band``, ``score_key``, ``trend_key`` (the latest scored day's snapshot;
-1 and -1000 without one), ``arr``, ``arr_key`` and ``renewal_key`` (the active subscriptions of the
system of record as of that day; 9999-12-31 when they name no renewal, NULL without a subscription),
and six (tenant, [CSM | band,] key, id) indexes. The upgrade fills them for existing accounts (the
same rules as `store.portfolio_keys`, written out here so that later changes there do not change this
migration); the downgrade drops them, losing nothing that is not derived.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_accounts_portfolio_csm_score", ["tenant_id", "csm_user_id", "score_key", "id"]),
    ("ix_accounts_portfolio_band_score", ["tenant_id", "health_band", "score_key", "id"]),
    ("ix_accounts_portfolio_score", ["tenant_id", "score_key", "id"]),
    ("ix_accounts_portfolio_trend", ["tenant_id", "trend_key", "id"]),
    ("ix_accounts_portfolio_arr", ["tenant_id", "arr_key", "id"]),
    ("ix_accounts_portfolio_renewal", ["tenant_id", "renewal_key", "id"]),
)
SYSTEM_OF_RECORD = ("salesforce", "hubspot", "zendesk")
NO_RENEWAL = dt.date(9999, 12, 31)


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_band", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("score_key", sa.Float(), server_default="-1.0", nullable=False))
        batch_op.add_column(sa.Column("trend_key", sa.Float(), server_default="-1000.0", nullable=False))
        batch_op.add_column(sa.Column("arr", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("arr_key", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("renewal_key", sa.Date(), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def _fill(conn: Any) -> None:
    days = {tenant: day for tenant, day in conn.execute(sa.text(
        "SELECT tenant_id, max(day) FROM health_snapshots GROUP BY tenant_id"))}
    for tenant, day in days.items():  # the latest day first: SQLite would rescan it for every account
        conn.execute(sa.text(
            "UPDATE accounts SET "
            "health_band = (SELECT h.band FROM health_snapshots h "
            "WHERE h.tenant_id = :t AND h.account_id = accounts.id AND h.day = :d), "
            "score_key = coalesce((SELECT h.score FROM health_snapshots h "
            "WHERE h.tenant_id = :t AND h.account_id = accounts.id AND h.day = :d), -1.0), "
            "trend_key = coalesce((SELECT h.trend FROM health_snapshots h "
            "WHERE h.tenant_id = :t AND h.account_id = accounts.id AND h.day = :d), -1000.0) "
            "WHERE tenant_id = :t"), {"t": tenant, "d": day})
    today = dt.datetime.now(dt.UTC).date()
    subscriptions: dict[tuple[int, int], dict[str, list[tuple[Any, Any]]]] = defaultdict(lambda: defaultdict(list))
    for tenant, account, system, arr, renewal in conn.execute(sa.text(
            "SELECT tenant_id, account_id, system, arr, renewal_date FROM subscriptions "
            "WHERE status = 'active' AND account_id IS NOT NULL")):
        subscriptions[(tenant, account)][system].append((arr, renewal))
    rows = []
    for (tenant, account), systems in subscriptions.items():
        counted = next(systems[s] for s in (*SYSTEM_OF_RECORD, *sorted(systems)) if systems.get(s))
        reference = _date(days.get(tenant)) or today
        amounts = [float(arr) for arr, _ in counted if arr is not None]
        renewals = sorted(d for d in (_date(r) for _, r in counted) if d is not None)
        renewal = next((d for d in renewals if d >= reference), renewals[-1] if renewals else None)
        arr = sum(amounts) if amounts else None
        rows.append({"i": account, "arr": arr, "arr_key": arr or 0.0, "renewal": renewal or NO_RENEWAL})
    if rows:
        conn.execute(sa.text("UPDATE accounts SET arr = :arr, arr_key = :arr_key, renewal_key = :renewal "
                             "WHERE id = :i").bindparams(sa.bindparam("renewal", type_=sa.Date())), rows)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        for name, _ in INDEXES:
            batch_op.drop_index(name)
        for column in ("renewal_key", "arr_key", "arr", "trend_key", "score_key", "health_band"):
            batch_op.drop_column(column)
