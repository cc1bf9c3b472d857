"""On PostgreSQL the ``usage_monthly`` row trigger of 0019 steps aside for a writer that folds its batch itself.

0019's trigger keeps ``usage_monthly`` right after every write to ``usage_daily``, one row at a time: on
PostgreSQL a PL/pgSQL call with two or three statements per daily row, about five times the cost of the daily
upsert itself on the collector's batches. The trigger now fires only while the transaction-local setting
``canary.usage_monthly`` is not ``'folded'``: the collector sets it around its one daily upsert per batch and
then adds the batch's monthly roll-up itself, in one set-based upsert (`collector.ingest._store_usage`); every
other writer (sync, sandbox, demo, backfills, plain SQL) leaves it unset and keeps the trigger as before. The
setting is local to the transaction (``set_config(…, true)``), so it ends with it, committed or rolled back.

SQLite keeps its triggers as they are: there the compiled trigger programs cost less than the set-based fold with
its Python side (measured on the collector bench's batches, one day each, and on batches spanning 50 days).

No table or row changes: the function and its data stay; only the trigger gets its ``WHEN``.

Revision ID: 0032
Revises: 0030
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None

SETTING = "canary.usage_monthly"
"""The transaction-local setting a writer sets to ``FOLDED`` while it writes daily rows it rolls up itself."""
FOLDED = "folded"

_TRIGGER = ("CREATE TRIGGER usage_monthly_keep AFTER INSERT OR UPDATE OR DELETE ON usage_daily FOR EACH ROW "
            "{when}EXECUTE FUNCTION usage_monthly_keep()")
PG_TRIGGER = _TRIGGER.format(when=f"WHEN (current_setting('{SETTING}', true) IS DISTINCT FROM '{FOLDED}') ")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS usage_monthly_keep ON usage_daily")
    op.execute(PG_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS usage_monthly_keep ON usage_daily")
    op.execute(_TRIGGER.format(when=""))
