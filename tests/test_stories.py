"""The stories in truth.json raise their early-warning alerts, on any day.

End to end on the sandbox, as `canary demo` runs it: usage through the collector (so product
accounts meet identity resolution), sync through the real SDKs, scoring, alerts. The worlds are
pinned to fixed dates (a Monday month end, a Saturday month end, a Wednesday) and seeds, so the
suite is the same test whatever the calendar says; `bench/bench_alerts.py` measures the same
rules over 14 days, two seeds and 2,000 companies.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from app import create_app
from cli.demo import run_demo
from cli.truth import STORY_RULES, RuleQuality, alert_quality
from extensions import canary_store
from sandbox.server import Sandbox
from store.models import Alert, HealthSnapshot, SourceLink
from sync.health import HISTORY_DAYS
from tests.console.conftest import CHEAP_ARGON2
from tests.dbtemplate import migrate_new
from tests.worlds import LIMITS, demo_world

STORY_WORLDS = ((dt.date(2026, 11, 30), 9), (dt.date(2026, 10, 31), 21), (dt.date(2026, 11, 25), 21))
"""(as of, seed) of each world. The Monday month end first: its world is the Chromium console test's too
(tests/e2e/test_console_chromium.py), so it is ready when that test asks."""
COMPANIES = 100
FLOOR = 0.95


def _demo(tmp: Path, accounts: int, seed: int, as_of: dt.date) -> tuple[Any, int, dict[str, Any]]:
    url = f"sqlite:///{tmp / 'stories.db'}"
    migrate_new(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "stories-secret-key-0123456789", "DATABASE_URL": url,
                      "PASSWORD_HASH": CHEAP_ARGON2})
    with Sandbox(accounts=accounts, seed=seed, as_of=as_of, **LIMITS) as box:
        result = run_demo(app, accounts=accounts, seed=seed, sandbox=box)
        truth = json.loads(Path(box.truth_path).read_text())
    return app, result.tenant_id, truth


@pytest.fixture(scope="module", params=STORY_WORLDS, ids=lambda w: f"{w[0]:%Y-%m-%d-%a}")
def quality(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, RuleQuality]:
    """The run's world of (100 companies, the seed, the date) — the month end's is the Chromium console test's
    world too (`tests.worlds`: built once per run, each module gets a copy)."""
    as_of, seed = request.param
    world = demo_world(tmp_path_factory, tmp_path_factory.mktemp("stories") / "stories.db",
                       accounts=COMPANIES, seed=seed, as_of=as_of)
    assert world.truth["as_of"] == as_of.isoformat()
    store = canary_store(world.app())
    try:
        return alert_quality(store, world.result.tenant_id, world.truth)
    finally:
        store.dispose()
        world.remove()


@pytest.mark.parametrize("rule", STORY_RULES)
def test_story_alerts_are_found(quality: dict[str, RuleQuality], rule: str) -> None:
    q = quality[rule]
    assert q.expected >= 1, f"the sandbox should hold {rule} stories"
    assert q.recall >= FLOOR, q
    assert q.precision >= FLOOR, q


def _outcome(app: Any, tenant_id: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, str | None, float | None]]]:
    """Alerts and every scored day, each named by the product account (truth's company key)."""
    with canary_store(app).session(tenant_id) as s:
        key = dict(s.execute(select(SourceLink.account_id, SourceLink.external_id)
                             .where(SourceLink.system == "product")).all())
        alerts = sorted((key[a], rule) for a, rule in s.execute(select(Alert.account_id, Alert.rule)) if a in key)
        scores = sorted((key[a], day.isoformat(), band, score) for a, day, band, score in s.execute(
            select(HealthSnapshot.account_id, HealthSnapshot.day, HealthSnapshot.band, HealthSnapshot.score))
            if a in key)
    return alerts, scores


def test_same_world_and_alerts_whatever_the_wall_clock_says(tmp_path: Path) -> None:
    """(accounts, seed, as_of) alone decide the world, its scores and its alerts: the same run under a
    wall clock on the morning after ``as_of`` and one a year and a half later gives the same answers."""
    as_of = dt.date(2026, 11, 28)
    runs = []
    for index, wall in enumerate(("2026-11-29T07:30:00+00:00", "2028-05-17T22:10:00+00:00")):
        with time_machine.travel(dt.datetime.fromisoformat(wall), tick=True):
            assert dt.date.today() == dt.date.fromisoformat(wall[:10])
            folder = tmp_path / f"run{index}"
            folder.mkdir()
            app, tenant_id, truth = _demo(folder, 40, 5, as_of)
            runs.append((truth, *_outcome(app, tenant_id)))
    (truth_a, alerts_a, scores_a), (truth_b, alerts_b, scores_b) = runs
    assert truth_a == truth_b
    assert alerts_a == alerts_b and len(alerts_a) >= 10
    assert scores_a == scores_b
    assert len({row[0] for row in scores_a}) == 40
    assert len(scores_a) == 40 * HISTORY_DAYS  # the demo scores its history from day one
