"""Usage rolled up per account, user, event and month (``usage_monthly``), kept by triggers on ``usage_daily``;
each account's week-end health per ISO week (``health_weeks``), kept by
triggers on ``health_snapshots``.

The triggers keep ``usage_monthly`` right after every insert, update (the collector's upsert adds counts) and
delete of a ``usage_daily`` row, in the statement's transaction, whoever writes. ``days`` is a bit mask of the
month's days (bit d − 1 for day d), ``count`` the counts' sum; event ``''`` is the user's any-event row. Existing
usage is rolled up here in two set-based statements. A later migration that rebuilds ``usage_daily`` on SQLite
(batch mode copies the table) must create the triggers again: ``create_triggers()``. ``health_weeks`` holds per
account and week (its Monday) the day, score and band of the week's last snapshot; removing that snapshot brings
the week's previous one back (or no row).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 22:30:00
"""

# ruff: noqa: S608 - the SQL is built from this module's constant fragments only, no input
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_KEY = "tenant_id, account_id, user_key, event, month"
_COLUMNS = "tenant_id, account_id, user_key, event, month, days, count"

# SQLite: the month of a day and the day's bit; the same key matched for OLD (a removed row) and for NEW
_LITE_MONTH = "date({r}.day, 'start of month')"
_LITE_BIT = "(1 << (CAST(strftime('%d', {r}.day) AS INTEGER) - 1))"


def _lite_add(r: str) -> str:
    month, bit = _LITE_MONTH.format(r=r), _LITE_BIT.format(r=r)
    return (f"INSERT INTO usage_monthly ({_COLUMNS}) VALUES "
            f"({r}.tenant_id, {r}.account_id, {r}.user_key, {r}.event, {month}, {bit}, coalesce({r}.count, 0)), "
            f"({r}.tenant_id, {r}.account_id, {r}.user_key, '', {month}, {bit}, coalesce({r}.count, 0)) "
            f"ON CONFLICT ({_KEY}) DO UPDATE SET days = days | excluded.days, count = count + excluded.count;")


def _lite_remove(r: str) -> str:
    month, bit = _LITE_MONTH.format(r=r), _LITE_BIT.format(r=r)
    same = (f"tenant_id = {r}.tenant_id AND account_id = {r}.account_id AND user_key = {r}.user_key "
            f"AND month = {month}")
    still = (f"EXISTS (SELECT 1 FROM usage_daily d WHERE d.tenant_id = {r}.tenant_id AND d.account_id = "
             f"{r}.account_id AND d.user_key = {r}.user_key AND d.day = {r}.day)")
    return (f"UPDATE usage_monthly SET count = count - coalesce({r}.count, 0), days = days & ~{bit} "
            f"WHERE {same} AND event = {r}.event; "
            f"UPDATE usage_monthly SET count = count - coalesce({r}.count, 0), "
            f"days = CASE WHEN {still} THEN days ELSE days & ~{bit} END WHERE {same} AND event = ''; "
            f"DELETE FROM usage_monthly WHERE {same} AND event IN ({r}.event, '') AND days = 0;")


_SAME_ROW = ("OLD.tenant_id = NEW.tenant_id AND OLD.account_id = NEW.account_id AND OLD.user_key = NEW.user_key "
             "AND OLD.event = NEW.event AND OLD.day = NEW.day")

SQLITE_TRIGGERS = (
    f"CREATE TRIGGER usage_monthly_insert AFTER INSERT ON usage_daily BEGIN {_lite_add('NEW')} END",
    f"CREATE TRIGGER usage_monthly_count AFTER UPDATE ON usage_daily WHEN {_SAME_ROW} BEGIN "
    "UPDATE usage_monthly SET count = count + coalesce(NEW.count, 0) - coalesce(OLD.count, 0) "
    "WHERE tenant_id = NEW.tenant_id AND account_id = NEW.account_id AND user_key = NEW.user_key "
    f"AND event IN (NEW.event, '') AND month = {_LITE_MONTH.format(r='NEW')}; END",
    f"CREATE TRIGGER usage_monthly_move AFTER UPDATE ON usage_daily WHEN NOT ({_SAME_ROW}) BEGIN "
    f"{_lite_remove('OLD')} {_lite_add('NEW')} END",
    f"CREATE TRIGGER usage_monthly_delete AFTER DELETE ON usage_daily BEGIN {_lite_remove('OLD')} END",
)

_PG_MONTH = "CAST(date_trunc('month', {r}.day) AS date)"
_PG_BIT = "(1 << (CAST(extract(day FROM {r}.day) AS integer) - 1))"
PG_FUNCTION = f"""
CREATE FUNCTION usage_monthly_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF {_SAME_ROW} THEN
            UPDATE usage_monthly SET count = count + coalesce(NEW.count, 0) - coalesce(OLD.count, 0)
            WHERE tenant_id = NEW.tenant_id AND account_id = NEW.account_id AND user_key = NEW.user_key
              AND event IN (NEW.event, '') AND month = {_PG_MONTH.format(r='NEW')};
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE usage_monthly SET count = count - coalesce(OLD.count, 0), days = days & ~{_PG_BIT.format(r='OLD')}
        WHERE tenant_id = OLD.tenant_id AND account_id = OLD.account_id AND user_key = OLD.user_key
          AND event = OLD.event AND month = {_PG_MONTH.format(r='OLD')};
        UPDATE usage_monthly SET count = count - coalesce(OLD.count, 0),
               days = CASE WHEN EXISTS (SELECT 1 FROM usage_daily d WHERE d.tenant_id = OLD.tenant_id
                                        AND d.account_id = OLD.account_id AND d.user_key = OLD.user_key
                                        AND d.day = OLD.day)
                           THEN days ELSE days & ~{_PG_BIT.format(r='OLD')} END
        WHERE tenant_id = OLD.tenant_id AND account_id = OLD.account_id AND user_key = OLD.user_key
          AND event = '' AND month = {_PG_MONTH.format(r='OLD')};
        DELETE FROM usage_monthly
        WHERE tenant_id = OLD.tenant_id AND account_id = OLD.account_id AND user_key = OLD.user_key
          AND event IN (OLD.event, '') AND month = {_PG_MONTH.format(r='OLD')} AND days = 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO usage_monthly ({_COLUMNS}) VALUES
            (NEW.tenant_id, NEW.account_id, NEW.user_key, NEW.event, {_PG_MONTH.format(r='NEW')},
             {_PG_BIT.format(r='NEW')}, coalesce(NEW.count, 0)),
            (NEW.tenant_id, NEW.account_id, NEW.user_key, '', {_PG_MONTH.format(r='NEW')},
             {_PG_BIT.format(r='NEW')}, coalesce(NEW.count, 0))
        ON CONFLICT ({_KEY}) DO UPDATE SET days = usage_monthly.days | excluded.days,
                                          count = usage_monthly.count + excluded.count;
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGER = ("CREATE TRIGGER usage_monthly_keep AFTER INSERT OR UPDATE OR DELETE ON usage_daily "
              "FOR EACH ROW EXECUTE FUNCTION usage_monthly_keep()")


_LITE_MONDAY = "date({r}.day, 'weekday 0', '-6 days')"
_PG_MONDAY = "CAST(date_trunc('week', {r}.day) AS date)"
_WEEK_COLUMNS = "tenant_id, account_id, week, day, score, band"


def _week_add(r: str, monday: str) -> str:
    """The snapshot becomes its week's row when it is the week's latest."""
    return (f"INSERT INTO health_weeks ({_WEEK_COLUMNS}) VALUES ({r}.tenant_id, {r}.account_id, "
            f"{monday.format(r=r)}, {r}.day, {r}.score, {r}.band) ON CONFLICT (tenant_id, account_id, week) "
            "DO UPDATE SET day = excluded.day, score = excluded.score, band = excluded.band "
            "WHERE excluded.day >= health_weeks.day;")


def _week_remove(r: str, monday: str, postgres: bool) -> str:
    """The week's row goes with its snapshot; the week's latest other snapshot (if any) takes its place."""
    m = monday.format(r=r)
    end = f"{m} + 7" if postgres else f"date({m}, '+7 days')"
    same = f"tenant_id = {r}.tenant_id AND account_id = {r}.account_id AND week = {m}"
    return (f"DELETE FROM health_weeks WHERE {same} AND day = {r}.day; "
            f"INSERT INTO health_weeks ({_WEEK_COLUMNS}) SELECT s.tenant_id, s.account_id, {m}, s.day, s.score, "
            f"s.band FROM health_snapshots s WHERE s.tenant_id = {r}.tenant_id AND s.account_id = {r}.account_id "
            f"AND s.day >= {m} AND s.day < {end} AND NOT EXISTS (SELECT 1 FROM health_weeks WHERE {same}) "
            "ORDER BY s.day DESC LIMIT 1;")


_SAME_SNAPSHOT = "OLD.tenant_id = NEW.tenant_id AND OLD.account_id = NEW.account_id AND OLD.day = NEW.day"
_WEEK_SCORE = ("UPDATE health_weeks SET score = NEW.score, band = NEW.band WHERE tenant_id = NEW.tenant_id "
               "AND account_id = NEW.account_id AND week = {m} AND day = NEW.day;")
SQLITE_WEEK_TRIGGERS = (
    f"CREATE TRIGGER health_weeks_insert AFTER INSERT ON health_snapshots BEGIN "
    f"{_week_add('NEW', _LITE_MONDAY)} END",
    f"CREATE TRIGGER health_weeks_score AFTER UPDATE OF score, band, day, account_id, tenant_id ON health_snapshots "
    f"WHEN {_SAME_SNAPSHOT} BEGIN {_WEEK_SCORE.format(m=_LITE_MONDAY.format(r='NEW'))} END",
    f"CREATE TRIGGER health_weeks_move AFTER UPDATE ON health_snapshots WHEN NOT ({_SAME_SNAPSHOT}) BEGIN "
    f"{_week_remove('OLD', _LITE_MONDAY, False)} {_week_add('NEW', _LITE_MONDAY)} END",
    f"CREATE TRIGGER health_weeks_delete AFTER DELETE ON health_snapshots BEGIN "
    f"{_week_remove('OLD', _LITE_MONDAY, False)} END",
)
PG_WEEK_FUNCTION = f"""
CREATE FUNCTION health_weeks_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF {_SAME_SNAPSHOT} THEN
            {_WEEK_SCORE.format(m=_PG_MONDAY.format(r='NEW'))}
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {_week_remove('OLD', _PG_MONDAY, True)}
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_week_add('NEW', _PG_MONDAY)}
    END IF;
    RETURN NULL;
END
$$
"""
PG_WEEK_TRIGGER = ("CREATE TRIGGER health_weeks_keep AFTER INSERT OR UPDATE OF score, band, day, account_id, "
                   "tenant_id OR DELETE ON health_snapshots FOR EACH ROW EXECUTE FUNCTION health_weeks_keep()")


def _week_backfill(postgres: bool) -> str:
    """Each account's and week's last snapshot."""
    m = (_PG_MONDAY if postgres else _LITE_MONDAY).format(r="s")
    return (f"INSERT INTO health_weeks ({_WEEK_COLUMNS}) SELECT s.tenant_id, s.account_id, {m}, s.day, s.score, "
            f"s.band FROM health_snapshots s JOIN (SELECT tenant_id, account_id, {m} AS week, max(day) AS day "
            f"FROM health_snapshots s GROUP BY tenant_id, account_id, {m}) last ON last.tenant_id = s.tenant_id "
            "AND last.account_id = s.account_id AND last.day = s.day")


def _backfill(postgres: bool) -> tuple[str, str]:
    """Each event's rows, then the any-event rows (distinct days' bits: one bit per day)."""
    month = _PG_MONTH.format(r="usage_daily") if postgres else _LITE_MONTH.format(r="usage_daily")
    bit = _PG_BIT.format(r="usage_daily") if postgres else _LITE_BIT.format(r="usage_daily")
    return (f"INSERT INTO usage_monthly ({_COLUMNS}) SELECT tenant_id, account_id, user_key, event, {month}, "
            f"sum({bit}), sum(coalesce(count, 0)) FROM usage_daily GROUP BY tenant_id, account_id, user_key, "
            f"event, {month}",
            f"INSERT INTO usage_monthly ({_COLUMNS}) SELECT tenant_id, account_id, user_key, '', {month}, "
            f"sum(DISTINCT {bit}), sum(coalesce(count, 0)) FROM usage_daily GROUP BY tenant_id, account_id, "
            f"user_key, {month}")


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in (PG_FUNCTION, PG_TRIGGER, PG_WEEK_FUNCTION, PG_WEEK_TRIGGER):
            op.execute(sql)
    else:
        for sql in (*SQLITE_TRIGGERS, *SQLITE_WEEK_TRIGGERS):
            op.execute(sql)


def upgrade() -> None:
    op.create_table(
        "usage_monthly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_key", sa.String(length=260), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_usage_monthly_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_usage_monthly_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_monthly")),
        sa.UniqueConstraint(
            "tenant_id", "account_id", "user_key", "event", "month",
            name=op.f("uq_usage_monthly_tenant_id_account_id_user_key_event_month"),
        ),
    )
    with op.batch_alter_table("usage_monthly", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_monthly_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_usage_monthly_tenant_month_event", ["tenant_id", "month", "event"], unique=False)
    op.create_table(
        "health_weeks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("band", sa.String(length=10), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_health_weeks_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_health_weeks_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_weeks")),
        sa.UniqueConstraint("tenant_id", "account_id", "week", name=op.f("uq_health_weeks_tenant_id_account_id_week")),
    )
    with op.batch_alter_table("health_weeks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_health_weeks_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_health_weeks_tenant_week_band", ["tenant_id", "week", "band"], unique=False)
    postgres = op.get_bind().dialect.name == "postgresql"
    for sql in _backfill(postgres):
        op.execute(sql)
    op.execute(_week_backfill(postgres))
    create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS usage_monthly_keep ON usage_daily")
        op.execute("DROP FUNCTION IF EXISTS usage_monthly_keep()")
        op.execute("DROP TRIGGER IF EXISTS health_weeks_keep ON health_snapshots")
        op.execute("DROP FUNCTION IF EXISTS health_weeks_keep()")
    else:
        for name in ("insert", "count", "move", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS usage_monthly_{name}")
        for name in ("insert", "score", "move", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS health_weeks_{name}")
    with op.batch_alter_table("health_weeks", schema=None) as batch_op:
        batch_op.drop_index("ix_health_weeks_tenant_week_band")
        batch_op.drop_index(batch_op.f("ix_health_weeks_tenant_id"))
    op.drop_table("health_weeks")
    with op.batch_alter_table("usage_monthly", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_monthly_tenant_month_event")
        batch_op.drop_index(batch_op.f("ix_usage_monthly_tenant_id"))
    op.drop_table("usage_monthly")
