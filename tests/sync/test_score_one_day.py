"""A one-day scoring run (the nightly score) goes through the batch path — usage loaded as columns,
`compute_signal_table`, `score_table` — and stores what loading each account's rows and scoring it alone gives.

A seeded sandbox world goes through the demo pipeline (its 180-day first score), then the next day is
scored; each of that day's snapshots is recomputed account by account: `InputLoader.load` → `compute_signals`
→ `score_account` against the day before's stored snapshot.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select

from app import create_app
from cli.demo import run_demo
from extensions import canary_store
from sandbox.server import Sandbox
from scoring import HealthScore, benchmark, compute_signal_table, compute_signals, default_model, score_account
from store.legends import legend_id, legends
from store.migrate import upgrade
from store.models import Account, HealthLegend, HealthSnapshot
from store.queries import live_accounts
from sync.health import InputLoader, score_tenant
from tests.console.conftest import CHEAP_ARGON2
from tests.shared import WORLD_AS_OF

COMPANIES = 30
SEED = 5
LIMITS = {"hubspot": {"requests_per_10s": 100_000}, "zendesk": {"incremental_requests_per_minute": None}}


def test_one_day_run_equals_each_account_scored_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one-day.db'}"
    upgrade(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "one-day-secret-key-0123456789", "DATABASE_URL": url,
                      "PASSWORD_HASH": CHEAP_ARGON2})
    with Sandbox(accounts=COMPANIES, seed=SEED, as_of=WORLD_AS_OF, **LIMITS) as box:
        result = run_demo(app, accounts=COMPANIES, seed=SEED, sandbox=box)
    store, model = canary_store(app), default_model()
    today = WORLD_AS_OF + dt.timedelta(days=1)
    summary = score_tenant(store, result.tenant_id, model, today)
    assert summary.days == 1
    with store.session(result.tenant_id) as s:
        ids = list(s.scalars(select(Account.id).where(live_accounts()).order_by(Account.id)))
        parents = set(s.scalars(select(Account.parent_id).where(Account.parent_id.is_not(None))))
        stored = {(snap.account_id, snap.day): snap for snap in s.scalars(select(HealthSnapshot).where(
            HealthSnapshot.day >= WORLD_AS_OF))}
        loader = InputLoader(s, model, today, today)
        inputs = loader.load(ids)
        bare, usage = loader.load_columns(ids)
        table = compute_signal_table(bare, today, model, usage)
        legend = legend_id(s, model)  # the run's: got, not made again
        described = legends(s).get(s, legend)
        assert s.scalar(select(func.count()).select_from(HealthLegend)) == 1
    assert summary.accounts == len(ids) == COMPANIES
    # The columns and the rows load the same facts.
    assert [table.row(i) for i in range(len(ids))] == [compute_signals(a, today, model) for a in inputs]
    # The day's benchmarks (written into the stored parts' text) are `benchmark` over every account's signals.
    expected_benchmarks = benchmark([compute_signals(a, today, model) for a in inputs], model)
    benchmarked = 0
    for account in inputs:
        found = expected_benchmarks[account.account_id]
        stored_parts = stored[(account.account_id, today)].parts
        assert stored_parts.get("benchmarks") == ({name: {"segment_percentile": b.segment_percentile,
                                                          "base_percentile": b.base_percentile}
                                                   for name, b in found.items()} if found else None)
        benchmarked += bool(found)
    assert benchmarked == len(inputs)
    compared = 0
    for account in inputs:
        if account.account_id in parents:
            continue  # its snapshot carries its children's roll-up
        snap = stored[(account.account_id, today)]
        before = stored[(account.account_id, WORLD_AS_OF)]
        prior = HealthScore.from_dict(before.parts, described)
        expected = score_account(compute_signals(account, today, model), model, prior)
        where = f"account {account.account_id}"
        assert (snap.score, snap.band, snap.profile) == (expected.score, expected.band, expected.profile), where
        # the stored form: the parts name the model's legend and keep only what varies per account
        assert snap.parts["legend"] == legend, where
        assert snap.parts["parts"] == expected.as_dict(legend)["parts"], where
        assert all(set(p) == {"value", "status", "points", "weight"} for p in snap.parts["parts"].values()), where
        assert HealthScore.from_dict(snap.parts, described).parts == expected.parts, where
        assert snap.reasons == [r.as_dict() for r in expected.reasons], where
        compared += 1
    assert compared >= COMPANIES - len(parents)
    assert any(a.usage for a in inputs), "the world should have usage to load"
