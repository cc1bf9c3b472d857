"""Issue 16, items 4–7: the Health, Adoption, Users and Team reports on the seeded workspace
(tests/console/conftest.py: five accounts with 180 days of snapshots, one product user each), figures known by
hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from extensions import canary_store
from store.models import Account, HealthSnapshot, Subscription, Task, UsageDaily
from sync.base_reports import BY, _health_report, adoption_report, health_report, leaderboard_report, team_report
from sync.reports import Cohort, ReportError
from tests.console.conftest import CHEAP_ARGON2, Workspace, console_app, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF, WORLD_NOW

__all__ = ["console_app"]
KEY = ("Report Created", "Dashboard Viewed")


@pytest.fixture
def seeded(app_factory: Any, database_url: str, db_templates: Templates) -> tuple[Any, Workspace]:
    """The seeded workspace on SQLite and on PostgreSQL: the reports' SQL has a branch per database (a copy of
    the session's seeded template)."""
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    return canary_store(app), seeded_workspaces(app, db_templates, ("alpha", "Alpha"))[0]


def test_health_distribution_histogram_trend_benchmarks_and_persistent_poor(seeded: Any) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        r = health_report(s, by="tier", as_of=WORLD_AS_OF, measures=["weekly_active_users"])
    # latest scores 30 (poor), 32 (poor), 81 (good), 25 (poor), 72 (good); ARR 50k, 20k, 90k, 10k, none
    assert r["overall"]["count"] == {"good": 2, "average": 0, "poor": 3, "unscored": 0}
    assert r["overall"]["band_arr"] == {"good": 90000.0, "average": 0.0, "poor": 80000.0, "unscored": 0.0}
    assert r["overall"]["histogram"] == [0, 0, 1, 2, 0, 0, 0, 1, 1, 0]
    assert set(r["groups"]) == {"gold", "silver"}
    assert r["groups"]["gold"]["count"]["poor"] == 2  # Poor Later, Other Poor
    assert len(r["weeks"]) == 12 and r["weeks"][-1] == "2026-11-30"
    last = r["trend"]["silver"][-1]  # silver: Poor Renewing 30, Good Steady 81, Unowned 72 on Monday 11-30
    assert (last["accounts"], last["good"], last["poor"]) == (3, 2, 1)
    assert last["average_score"] == pytest.approx((30 + 81 + 72) / 3, abs=0.01)
    week_before = r["trend"]["silver"][-2]  # its week-end is Sunday 11-29, one day back: scores − 0.01
    assert week_before["average_score"] == pytest.approx((30 + 81 + 72 - 0.03) / 3, abs=0.01)
    (bench,) = r["benchmarks"]
    assert (bench["segment"], bench["measure"], bench["accounts"], bench["percentiles"]["p50"]) == \
        ("mid-market", "weekly_active_users", 5, 3.0)
    poor = r["persistent_poor"]["accounts"]
    assert [p["account_id"] for p in poor] == sorted(ws.accounts[n] for n in
                                                     ("Alpha Poor Renewing", "Alpha Poor Later", "Alpha Other Poor"))
    assert poor[0]["poor_weeks"] == ["2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]


def test_health_as_of_earlier_and_cohort_and_grouping_by_csm(seeded: Any) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        early = health_report(s, by="csm", as_of=WORLD_AS_OF - dt.timedelta(days=30))
        mine = health_report(s, by="segment", cohort=Cohort(csm_user_id=ws.users["csm"]), as_of=WORLD_AS_OF)
        with pytest.raises(ReportError, match="by must be one of"):
            health_report(s, by="colour")
    # 30 days back every account had its first band: average, poor, good, average, good
    assert early["overall"]["count"] == {"good": 2, "average": 2, "poor": 1, "unscored": 0}
    assert set(early["groups"]) == {"Alpha Csm", "Alpha Othercsm", "(not set)"}
    assert early["persistent_poor"]["accounts"][0]["account_id"] == ws.accounts["Alpha Poor Later"]
    assert mine["overall"]["accounts"] == 3 and mine["overall"]["arr"] == 160000.0


def test_adoption_by_tier_cohort_month_training_sponsors_and_upgrade_ready(seeded: Any) -> None:
    store, ws = seeded
    good = ws.accounts["Alpha Good Steady"]
    with store.session(ws.tenant_id) as s:
        # Good Steady: 90 on its last 30 snapshots and its one user on its one seat → upgrade-ready
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == good,
                                               HealthSnapshot.day > WORLD_AS_OF - dt.timedelta(days=30))
                  .values(score=90.0))
        s.execute(update(Subscription).where(Subscription.account_id == good).values(seats_purchased=1))
        # Poor Later's user logged in 6 times the 30 days before and once now, and used no key feature now
        poor_later = ws.accounts["Alpha Poor Later"]
        s.execute(update(UsageDaily).where(UsageDaily.account_id == poor_later).values(event="Logged In", count=1))
        s.add(UsageDaily(account_id=poor_later, user_key="alpha-u1", event="Logged In",
                         day=WORLD_AS_OF - dt.timedelta(days=40), count=6))
        s.execute(update(Account).where(Account.id == good).values(tier=None))  # its subscription's tier counts
        s.execute(update(Subscription).where(Subscription.account_id == good).values(product_tier="Enterprise"))
        r = adoption_report(s, key_features=KEY, login_event="Logged In", as_of=WORLD_AS_OF)
    tier = {(x["group"], x["feature"]): x for x in r["by_tier"]}
    assert tier[("premium", "Report Created")]["accounts_using"] == 1
    assert tier[("standard", "Report Created")]["accounts"] == 4
    assert tier[("standard", "Report Created")]["accounts_using"] == 3
    assert tier[("standard", "Report Created")]["user_share"] == 0.75
    assert tier[("standard", "Dashboard Viewed")]["users_using"] == 0
    cohorts = {x["group"] for x in r["by_cohort"]}
    assert cohorts == {"2026-Q4"}  # first activity 2026-10-21 (Poor Later) and 2026-11-28
    assert [m["month"] for m in r["monthly"]] == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    november = {x["feature"]: x for x in r["monthly"][-1]["rows"]}
    assert (november["Report Created"]["accounts_using"], november["Report Created"]["active_users"]) == (4, 5)
    october = {x["feature"]: x for x in r["monthly"][-2]["rows"]}
    assert october["Report Created"]["user_share"] == 0.0 and october["Report Created"]["active_users"] == 1
    assert r["upgrade_ready"] == [{"account_id": good, "name": "Alpha Good Steady", "reason":
                                   "health >= 80 on all 30 snapshot(s) since 2026-11-01 (lowest 90); "
                                   "seat use 100 % (1 of 1 seats)"}]
    training = r["needs_training"]
    assert training["total"] == 1
    assert training["users"][0]["user_key"] == "alpha-u1"
    assert training["users"][0]["reasons"] == ["active on 1 day(s) but used no key feature",
                                               "logins fell from 6 to 1"]
    assert training["users"][0]["product_user_id"] == ws.product_users[1]
    assert len(r["sponsors"]) == 5 and {x["days_since"] for x in r["sponsors"]} == {0}


def test_leaderboard_across_the_base_and_for_one_account(seeded: Any) -> None:
    store, ws = seeded
    first = ws.accounts["Alpha Poor Renewing"]
    with store.session(ws.tenant_id) as s:
        s.add_all([UsageDaily(account_id=first, user_key="alpha-u0", event=e, day=WORLD_AS_OF - dt.timedelta(days=d),
                              count=1) for e, d in (("Dashboard Viewed", 2), ("Logged In", 5), ("Report Created", 9))])
        s.add(UsageDaily(account_id=first, user_key="alpha-x", event="Logged In", day=WORLD_AS_OF, count=50))
        base = leaderboard_report(s, key_features=KEY, as_of=WORLD_AS_OF)
        one = leaderboard_report(s, key_features=KEY, account_id=first, limit=1, as_of=WORLD_AS_OF)
        with pytest.raises(ReportError, match="no account"):
            leaderboard_report(s, key_features=KEY, account_id=999999)
    top = base["users"][0]
    # alpha-u0: active on 3 days (2, 5, 9 back), key features: Report Created on 2 days, Dashboard Viewed on 1
    assert (top["user_key"], top["active_days"], top["key_feature_days"], top["engagement"]) == ("alpha-u0", 3, 3, 6)
    assert top["product_user_id"] == ws.product_users[0]
    assert [u["engagement"] for u in base["users"]] == [6, 2, 2, 2, 2, 1]
    assert base["users"][-1]["user_key"] == "alpha-x"
    assert [u["user_key"] for u in one["users"]] == ["alpha-u0"]


def test_team_figures_and_who_sees_which_rows(seeded: Any) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        done = s.get(Task, ws.tasks[0])
        assert done is not None
        done.status, done.completed_at = "done", WORLD_NOW - dt.timedelta(hours=2)  # on time, acts on its alert
        late = s.get(Task, ws.tasks[3])
        assert late is not None
        late.due_date = WORLD_AS_OF - dt.timedelta(days=1)  # open, due yesterday: overdue (csm2)
        s.flush()
        admin = team_report(s, days=30, as_of=WORLD_AS_OF, role="admin", user_id=ws.users["admin"])
        manager = team_report(s, days=30, as_of=WORLD_AS_OF, role="manager", user_id=ws.users["manager"])
        csm2 = team_report(s, days=7, as_of=WORLD_AS_OF, role="csm", user_id=ws.users["csm2"])
        with pytest.raises(ReportError, match="days must be one of"):
            team_report(s, days=14)
    rows = {r["name"]: r for r in admin["csms"]}
    assert set(rows) == {"Alpha Csm", "Alpha Othercsm"}
    csm = rows["Alpha Csm"]
    assert (csm["accounts"], csm["arr"], csm["on_time"], csm["late"], csm["overdue"]) == (3, 160000.0, 1, 0, 0)
    assert (csm["alerts"], csm["acted"], csm["hours_to_act"], csm["untouched"]) == (3, 1, 8.0, 2)
    # week-end scores: Sunday 11-01 (29 days back: 62, 35, 80) and Monday 11-30 (30, 32, 81)
    assert csm["health_first"] == pytest.approx((62 + 35 + 80 - 0.87) / 3, abs=0.01)
    assert csm["health_last"] == pytest.approx((30 + 32 + 81) / 3, abs=0.01)
    assert rows["Alpha Othercsm"]["overdue"] == 1
    assert (csm["open"], rows["Alpha Othercsm"]["open"], admin["teams"][0]["open"]) == (2, 0, 2)  # due in 3 days
    assert [t["name"] for t in admin["teams"]] == ["Alpha Manager"]
    assert admin["teams"][0]["accounts"] == 3
    assert [r["name"] for r in manager["csms"]] == ["Alpha Csm"] and len(manager["teams"]) == 1
    assert [r["name"] for r in csm2["csms"]] == ["Alpha Othercsm"] and csm2["teams"] == []
    assert list(csm2["trend"]) == ["Alpha Othercsm"] and len(csm2["trend"]["Alpha Othercsm"]) == 2
    assert len(admin["trend"]["Alpha Csm"]) == 6  # ISO weeks from 10-26 to 11-30
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(Task.status).where(Task.id == ws.tasks[0])) == "done"


def test_benchmarks_of_several_measures_read_in_one_pass_equal_each_measure_read_alone(seeded: Any) -> None:
    """SQLite reads all measures in one json_extract; each measure alone takes the one-column path."""
    store, ws = seeded
    measures = ["weekly_active_users", "logins_30d", "no_such_measure"]
    with store.session(ws.tenant_id) as s:
        latest = s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == WORLD_AS_OF)
                           .order_by(HealthSnapshot.account_id)).all()
        assert len(latest) == 5
        for i, snap in enumerate(latest):  # a second measure: ints, a float, a number as text, a missing value
            value = (3, 4.5, "7", None, 10)[i]
            snap.parts = {"parts": {**snap.parts["parts"], "logins_30d": {"value": value}}}
        s.flush()
        together = health_report(s, as_of=WORLD_AS_OF, measures=measures)["benchmarks"]
        alone = [b for m in measures for b in health_report(s, as_of=WORLD_AS_OF, measures=[m])["benchmarks"]]
    assert together == sorted(alone, key=lambda b: (b["segment"], b["measure"]))
    assert {b["measure"] for b in together} == {"weekly_active_users", "logins_30d"}
    assert sorted(b["accounts"] for b in together) == [4, 5]
    logins = next(b for b in together if b["measure"] == "logins_30d")
    assert logins["percentiles"]["p50"] == 4.5 and logins["percentiles"]["p90"] == 10.0


def test_health_reports_sharing_their_benchmarks_and_poor_health_equal_each_computed_alone(seeded: Any) -> None:
    """`prepare_base_reports` computes the benchmarks and persistent poor health once for every dimension."""
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        shared: dict[Any, Any] = {}
        together = {by: _health_report(s, by=by, as_of=WORLD_AS_OF, measures=["weekly_active_users"], shared=shared)
                    for by in BY}
        alone = {by: _health_report(s, by=by, as_of=WORLD_AS_OF, measures=["weekly_active_users"]) for by in BY}
    assert len(shared) == 1
    assert together == alone
    assert len(together["csm"]["benchmarks"]) == 1 and len(together["csm"]["persistent_poor"]["accounts"]) == 3


def test_every_report_view_is_built_and_read_with_fewer_collections(seeded: Any, monkeypatch: Any) -> None:
    """A report view makes tens of thousands of short-lived objects at 100k accounts: each is built (and its stored
    copy read) inside `fewer_collections`, and the collector's thresholds are put back after."""
    import gc

    from sync import base_reports as br
    from sync.collection import YOUNG

    store, ws = seeded
    before = gc.get_threshold()
    seen: list[tuple[str, int]] = []
    store_copy, trend_of = br._store, br.hb.trend_of

    def watched_store(*args: Any) -> Any:  # a view just built, its copy stored
        seen.append(("built", gc.get_threshold()[0]))
        return store_copy(*args)

    def watched_trend(*args: Any) -> Any:  # inside the Health and Team views
        seen.append(("health", gc.get_threshold()[0]))
        return trend_of(*args)

    loads = br.json.loads

    def watched_loads(text: Any) -> Any:  # a stored copy read
        seen.append(("copy", gc.get_threshold()[0]))
        return loads(text)

    monkeypatch.setattr(br, "_store", watched_store)
    monkeypatch.setattr(br.hb, "trend_of", watched_trend)
    monkeypatch.setattr(br.json, "loads", watched_loads)
    with store.session(ws.tenant_id) as s:
        for _ in range(2):  # built, then read from its copy
            health_report(s, as_of=WORLD_AS_OF)
            adoption_report(s, key_features=KEY, login_event="Logged In", as_of=WORLD_AS_OF)
            leaderboard_report(s, key_features=KEY, as_of=WORLD_AS_OF)
            team_report(s, days=30, as_of=WORLD_AS_OF)
        _health_report(s, as_of=WORLD_AS_OF)  # computed in the request, as the bench times it
    monkeypatch.undo()
    kinds = [kind for kind, _ in seen]
    # four views built, their four copies read; trends: the Health and Team views' builds and the Health view again
    assert (kinds.count("built"), kinds.count("copy"), kinds.count("health")) == (4, 4, 3)
    outside = [(kind, young) for kind, young in seen if young != max(YOUNG, before[0])]
    assert outside == []
    assert gc.get_threshold() == before
