"""The first score's 180-day backfill stores, for every day, what scoring that day alone gives.

A seeded sandbox world goes through the demo pipeline (usage through the collector, the three vendors
synced, then `sync.health.first_score`). Each compared snapshot is then recomputed from scratch: the
account's facts (loaded once, as the backfill loads them) → `compute_signals` for that one day →
`score_account` against the day before's stored snapshot → `score_trend` over the stored days before it.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from sqlalchemy import func, select

from app import create_app
from cli.demo import run_demo
from extensions import canary_store
from sandbox.server import Sandbox
from scoring import HealthScore, compute_signals, default_model, score_account, score_trend
from store.legends import legend_id, legends
from store.models import Account, HealthSnapshot
from store.queries import live_accounts
from sync.health import HISTORY_DAYS, InputLoader
from tests.console.conftest import CHEAP_ARGON2
from tests.dbtemplate import migrate_new
from tests.shared import WORLD_AS_OF

COMPANIES = 30
SEED = 21
LIMITS = {"hubspot": {"requests_per_10s": 100_000}, "zendesk": {"incremental_requests_per_minute": None}}


def test_backfilled_days_equal_each_day_scored_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'backfill.db'}"
    migrate_new(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "backfill-secret-key-0123456789", "DATABASE_URL": url,
                      "PASSWORD_HASH": CHEAP_ARGON2})
    with Sandbox(accounts=COMPANIES, seed=SEED, as_of=WORLD_AS_OF, **LIMITS) as box:
        result = run_demo(app, accounts=COMPANIES, seed=SEED, sandbox=box)
    assert result.history_days == HISTORY_DAYS
    store, model = canary_store(app), default_model()
    first = WORLD_AS_OF - dt.timedelta(days=HISTORY_DAYS - 1)
    with store.session(result.tenant_id) as s:
        ids = list(s.scalars(select(Account.id).where(live_accounts()).order_by(Account.id)))
        parents = set(s.scalars(select(Account.parent_id).where(Account.parent_id.is_not(None))))
        assert s.scalar(select(func.count()).select_from(HealthSnapshot)) == len(ids) * HISTORY_DAYS
        stored = {(snap.account_id, snap.day): snap for snap in s.scalars(select(HealthSnapshot))}
        inputs = {i.account_id: i for i in InputLoader(s, model, first, WORLD_AS_OF).load(ids)}
        legend = legend_id(s, model)
        described = legends(s).get(s, legend)

    def day(n: int) -> dt.date:
        return first + dt.timedelta(days=n)

    # The days around every band change, the first and last days, and a few days picked at random.
    rng = random.Random(SEED)
    wanted: set[tuple[int, dt.date]] = set()
    band_changes = 0
    for account_id in ids:
        for n in range(1, HISTORY_DAYS):
            if stored[(account_id, day(n))].band != stored[(account_id, day(n - 1))].band:
                band_changes += 1
                wanted |= {(account_id, day(k)) for k in (n - 1, n, n + 1) if k < HISTORY_DAYS}
        wanted |= {(account_id, day(0)), (account_id, WORLD_AS_OF)}
        wanted |= {(account_id, day(rng.randrange(HISTORY_DAYS))) for _ in range(3)}
    # On the last day a parent's snapshot carries its children's roll-up instead of its own score.
    compared = sorted(k for k in wanted if not (k[0] in parents and k[1] == WORLD_AS_OF))
    assert band_changes >= 5, "the world should move accounts between bands during the 180 days"
    assert len(compared) >= 5 * len(ids)

    for account_id, today in compared:
        snap = stored[(account_id, today)]
        signals = compute_signals(inputs[account_id], today, model)
        before = stored.get((account_id, today - dt.timedelta(days=1)))
        previous = HealthScore.from_dict(before.parts, described) if before is not None else None
        expected = score_account(signals, model, previous)
        where = f"account {account_id} on {today}"
        assert (snap.score, snap.band, snap.profile) == (expected.score, expected.band, expected.profile), where
        assert snap.parts["legend"] == legend, where
        assert snap.parts["parts"] == expected.as_dict(legend)["parts"], where
        assert HealthScore.from_dict(snap.parts, described).parts == expected.parts, where
        assert snap.parts["dimensions"] == expected.dimensions, where
        assert snap.reasons == [r.as_dict() for r in expected.reasons], where
        window = [stored[(account_id, today - dt.timedelta(days=back))] for back in range(29, 0, -1)
                  if (account_id, today - dt.timedelta(days=back)) in stored]
        assert snap.trend == score_trend([*window, expected], today).slope, where
    assert sum(1 for a, d in compared if d == day(0)) == len(ids)
