"""Issue 16: the account facts (`sync.base_reports.refresh_account_facts`, migration 0029) the Health and Team views
of the latest scored day read — every figure equals the one computed from the snapshots and week rows, after
snapshots are added, rescored, moved to other accounts' groups and deleted, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select, update

from extensions import canary_store
from scoring import default_model
from store.models import Account, AccountFact, Alert, HealthSnapshot, HealthWeek, ReportFactsState, Task
from sync import base_reports as br
from sync.reports import Cohort
from tests.console.conftest import CHEAP_ARGON2, Workspace, console_app, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF, WORLD_NOW, record_calls

__all__ = ["console_app"]
MEASURES = sorted(default_model().measures)


@pytest.fixture
def seeded(app_factory: Any, database_url: str, db_templates: Templates) -> tuple[Any, Workspace]:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    return canary_store(app), seeded_workspaces(app, db_templates, ("alpha", "Alpha"))[0]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which views read the facts (one entry per facts read)."""
    return record_calls(monkeypatch, br, ("_fact_distribution", "_fact_week_counts", "_fact_benchmarks",
                                          "_fact_persistent_poor", "_fact_team_columns"))


def _views(s: Any, ws: Workspace) -> dict[str, Any]:
    """Views computed in a request: every `by`, cohorts, measure subsets, trend and poor-health windows, Team."""
    csm = ws.users["csm"]
    out: dict[str, Any] = {f"health-{by}": br._health_report(s, by=by, measures=MEASURES) for by in br.BY}
    out["cohort-csm"] = br._health_report(s, by="tier", cohort=Cohort(csm_user_id=csm), measures=MEASURES[:3])
    out["cohort-segment"] = br._health_report(s, by="csm", cohort=Cohort(segment="mid-market"), weeks=26,
                                              measures=["weekly_active_users"], poor_weeks=2, of_weeks=26)
    out["cohort-none"] = br._health_report(s, by="stage", cohort=Cohort(segment="no such"), weeks=4,
                                           measures=MEASURES, poor_weeks=1, of_weeks=1)
    for days in (7, 30, 90):
        out[f"team-{days}"] = br._team_report(s, days=days)
    out["team-csm"] = br._team_report(s, days=30, role="csm", user_id=csm)
    out["team-manager"] = br._team_report(s, days=90, role="manager", user_id=ws.users["manager"])
    return out


def _from_snapshots(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(br, "fresh_account_facts", lambda *args, **kwargs: None)
        return _views(s, ws)


def _weekly(s: Any, ws: Workspace, use_facts: bool, monkeypatch: pytest.MonkeyPatch) -> dict[Any, Any]:
    """Every dimension's weekly counts over the 26 weeks, as (group, week, band) → (accounts, scored, Σ score)."""
    day = br.as_of_day(s)
    first = br.hb.week_start(day) - dt.timedelta(weeks=25)
    people = br._people(s)
    with monkeypatch.context() as m:
        if not use_facts:
            m.setattr(br, "fresh_account_facts", lambda *args, **kwargs: None)
        return {(dimension, c.group, c.week, c.band): (c.accounts, c.scored, c.score_sum)
                for dimension in (None, *br.BY.values())
                for c in br.weekly_counts(s, dimension, first, day, Cohort(), people)}


def _assert_equal_weekly(facts: dict[Any, Any], snapshots: dict[Any, Any]) -> None:
    assert facts.keys() == snapshots.keys()
    for key, (n, scored, total) in facts.items():
        assert (n, scored) == snapshots[key][:2], key
        assert math.isclose(total, snapshots[key][2], rel_tol=1e-12, abs_tol=1e-9), key


def _assert_facts_rows(s: Any) -> None:
    """Each stored fact equals its account's rows: the latest snapshot, the week-end rows of its weeks."""
    state = s.scalars(select(ReportFactsState)).one()
    first = state.last_week - dt.timedelta(weeks=state.weeks - 1)
    latest = dict(s.execute(select(HealthSnapshot.account_id, func.max(HealthSnapshot.day))
                            .group_by(HealthSnapshot.account_id)).all())
    facts = s.scalars(select(AccountFact)).all()
    assert {f.account_id for f in facts} == set(latest)
    for f in facts:
        snap = s.scalars(select(HealthSnapshot).where(HealthSnapshot.account_id == f.account_id,
                                                      HealthSnapshot.day == latest[f.account_id])).one()
        assert (f.day, f.score, f.band) == (snap.day, snap.score, snap.band)
        values = np.frombuffer(f.measures, dtype=np.float64)
        parts = snap.parts["parts"]
        for name, value in zip(br.json.loads(state.measures), values.tolist(), strict=True):
            if name in parts:
                assert value == float(parts[name]["value"])
            else:
                assert math.isnan(value)
        weeks = {w.week: w for w in s.scalars(select(HealthWeek).where(HealthWeek.account_id == f.account_id,
                                                                       HealthWeek.week >= first))}
        scores = np.frombuffer(f.week_scores, dtype=np.float64).tolist()
        for i, (code, score) in enumerate(zip(f.week_bands, scores, strict=True)):
            week = weeks.get(first + dt.timedelta(weeks=i))
            if week is None:
                assert code == "-" and math.isnan(score)
            else:
                assert code == {"good": "g", "average": "a", "poor": "p", None: "n"}[week.band]
                assert score == week.score or (week.score is None and math.isnan(score))


def _snapshot(account_id: int, day: dt.date, score: float | None, band: str | None) -> HealthSnapshot:
    return HealthSnapshot(account_id=account_id, day=day, score=score, band=band, trend=0.0, reasons=[],
                          computed_at=WORLD_NOW,
                          parts={"parts": {"weekly_active_users": {"value": 7}, MEASURES[0]: {"value": "2.5"},
                                           MEASURES[1]: {"value": 0.125}}})


def _tasks(s: Any, ws: Workspace) -> None:
    """Tasks of every kind the team figures count (in SQL from the facts, in Python from the snapshots): done on
    time, late, on its due day late in the evening (UTC), closed by a play, linked to alerts, before the window;
    open overdue, not yet due, without a due date; assigned to another person; on a retired account."""
    a, u = ws.accounts, ws.users
    day = WORLD_AS_OF

    def at(back: int, hour: int = 10, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day - dt.timedelta(days=back), dt.time(hour, minute), dt.UTC)

    alerts = [Alert(account_id=a[name], rule="usage_drop", dedupe_key=f"t:{i}", title="t", severity="high",
                    raised_at=at(back)) for i, (name, back) in enumerate(
                        [("Alpha Poor Renewing", 5), ("Alpha Other Poor", 40), ("Alpha Poor Later", 2)])]
    s.add_all(alerts)
    s.flush()
    rows = [  # account, status, due (days ahead), completed (days back, hour), assignee, alert, closed reason
        ("Alpha Poor Renewing", "done", -3, (1, 9), None, 0, None),
        ("Alpha Poor Renewing", "done", -3, (4, 12), None, 0, None),  # a later completion of the same alert
        ("Alpha Poor Renewing", "done", -10, (3, 23), "csm2", None, None),  # late, by another person
        ("Alpha Other Poor", "done", -5, (5, 23), None, None, None),  # on its due day, 23:00 UTC
        ("Alpha Other Poor", "done", None, (20, 8), None, 1, None),
        ("Alpha Other Poor", "done", 0, (2, 8), None, None, "play closed"),  # not a completion by a person
        ("Alpha Other Poor", "done", 0, (2, 8), None, None, ""),
        ("Alpha Poor Later", "done", -40, (45, 8), None, None, None),  # before every window but 90 days
        ("Alpha Poor Later", "done", -1, (0, 7), None, 2, None),
        ("Alpha Poor Later", "open", -2, None, None, None, None),  # overdue
        ("Alpha Poor Later", "open", -30, None, "manager", None, None),
        ("Alpha Unowned", "open", -1, None, None, None, None),  # overdue, nobody's
        ("Alpha Unowned", "open", None, None, "csm", None, None),
        ("Alpha Good Steady", "open", 0, None, None, None, None),  # due today: not overdue
        ("Alpha Good Steady", "done", 1, (6, 11), None, None, None),
        ("Alpha Good Steady", "open", -4, None, None, None, None),
    ]
    for name, status, due, done, assignee, alert, reason in rows:
        s.add(Task(account_id=a[name], title="t", status=status,
                   due_date=None if due is None else day + dt.timedelta(days=due),
                   completed_at=None if done is None else at(done[0], done[1]),
                   assignee_user_id=None if assignee is None else u[assignee],
                   alert_id=None if alert is None else alerts[alert].id, closed_reason=reason))
    s.flush()
    retired = s.get(Account, a["Alpha Good Steady"])
    assert retired is not None
    retired.lifecycle_stage = "retired"  # its open tasks count for no CSM, its assignee's still do


def test_facts_equal_the_snapshots_for_every_view(seeded: Any, reads: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        _tasks(s, ws)
    with store.session(ws.tenant_id) as s:
        assert br.refresh_account_facts(s, MEASURES) == 5
    with store.session(ws.tenant_id) as s:
        _assert_facts_rows(s)
        assert br.fresh_account_facts(s, WORLD_AS_OF, MEASURES) is not None
        facts = _views(s, ws)
        assert {"_fact_distribution", "_fact_week_counts", "_fact_benchmarks", "_fact_persistent_poor",
                "_fact_team_columns"} <= set(reads)
        used = len(reads)
        assert facts == _from_snapshots(s, ws, monkeypatch)
        assert len(reads) == used  # the comparison read no facts
        csms = {c["user_id"]: c for c in facts["team-30"]["csms"]}
        assert sum(c["on_time"] + c["late"] for c in csms.values()) >= 4 and sum(c["overdue"] for c in csms.values())
        assert csms[ws.users["csm2"]]["late"] >= 1 and sum(c["acted"] for c in csms.values()) >= 1
        assert sum(c["open"] for c in csms.values()) >= 2
        _assert_equal_weekly(_weekly(s, ws, True, monkeypatch), _weekly(s, ws, False, monkeypatch))
        # what the facts do not hold is read from the snapshots: another day, more weeks, another measure
        reads.clear()
        br._health_report(s, as_of=WORLD_AS_OF - dt.timedelta(days=3), measures=MEASURES)
        br._team_report(s, days=365)
        assert reads == []
        br._health_report(s, measures=["not a measure"])
        assert reads == ["_fact_week_counts"]  # its 12-week trend
        reads.clear()
        br._health_report(s, weeks=27)
        assert "_fact_week_counts" not in reads and "_fact_distribution" in reads


def test_facts_follow_new_snapshots_rescoring_moves_and_deletes(seeded: Any, reads: list[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = seeded
    a = ws.accounts
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:  # a new scored day: the facts no longer hold, until built again
        s.add_all([_snapshot(a["Alpha Poor Renewing"], WORLD_AS_OF + dt.timedelta(days=1), 55.5, "average"),
                   _snapshot(a["Alpha Good Steady"], WORLD_AS_OF + dt.timedelta(days=1), None, None)])
    with store.session(ws.tenant_id) as s:
        day = br.as_of_day(s)
        assert day == WORLD_AS_OF + dt.timedelta(days=1)
        assert br.fresh_account_facts(s, day) is None and br.fresh_account_facts(s, WORLD_AS_OF) is None
        before = _from_snapshots(s, ws, monkeypatch)
        reads.clear()
        assert _views(s, ws) == before and reads == []
        br.refresh_account_facts(s, MEASURES)
    with store.session(ws.tenant_id) as s:
        _assert_facts_rows(s)
        assert _views(s, ws) == before and "_fact_benchmarks" in reads
        assert before["health-segment"]["overall"]["count"]["unscored"] == 1
    # moves (as a sync writes them, an account at a time): another CSM, segment and tier are read from the
    # accounts, the facts still hold
    with store.session(ws.tenant_id) as s:
        later, unowned = s.get(Account, a["Alpha Poor Later"]), s.get(Account, a["Alpha Unowned"])
        assert later is not None and unowned is not None
        later.csm_user_id, later.segment, later.tier = ws.users["csm2"], "enterprise", "platinum"
        unowned.csm_user_id = ws.users["csm"]
    with store.session(ws.tenant_id) as s:
        assert br.fresh_account_facts(s, br.as_of_day(s)) is not None
        moved = _views(s, ws)
        assert moved == _from_snapshots(s, ws, monkeypatch)
        assert moved["health-segment"]["groups"]["enterprise"]["accounts"] == 1
        _assert_equal_weekly(_weekly(s, ws, True, monkeypatch), _weekly(s, ws, False, monkeypatch))
    # rescored in place (a partial score run): its drop_base_reports stops the facts being read
    with store.session(ws.tenant_id) as s:
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == a["Alpha Other Poor"],
                                               HealthSnapshot.day == WORLD_AS_OF).values(score=99.0, band="good"))
        br.drop_base_reports(s)
    with store.session(ws.tenant_id) as s:
        assert br.fresh_account_facts(s, br.as_of_day(s)) is None
        rescored = _from_snapshots(s, ws, monkeypatch)
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        _assert_facts_rows(s)
        reads.clear()
        assert _views(s, ws) == rescored and reads
    # deletes: an account (its facts with it) and a snapshot, then a sync's prepare
    with store.session(ws.tenant_id) as s:
        s.execute(delete(Account).where(Account.id == a["Alpha Good Steady"]))
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(AccountFact)) == 4
        assert _views(s, ws) == _from_snapshots(s, ws, monkeypatch)
        s.execute(delete(HealthSnapshot).where(HealthSnapshot.account_id == a["Alpha Poor Renewing"],
                                               HealthSnapshot.day == WORLD_AS_OF + dt.timedelta(days=1)))
    with store.session(ws.tenant_id) as s:  # the sync's prepare, after its changes are committed
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        _assert_facts_rows(s)
        reads.clear()
        assert _views(s, ws) == _from_snapshots(s, ws, monkeypatch) and reads
        _assert_equal_weekly(_weekly(s, ws, True, monkeypatch), _weekly(s, ws, False, monkeypatch))


def test_no_facts_for_a_workspace_never_scored(seeded: Any) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        assert br.refresh_account_facts(s, MEASURES) == 5
        s.execute(delete(HealthSnapshot))
        assert br.refresh_account_facts(s, MEASURES) == 0
        assert s.scalar(select(func.count()).select_from(AccountFact)) == 0
        assert s.scalar(select(func.count()).select_from(ReportFactsState)) == 0
        assert br.fresh_account_facts(s, br.as_of_day(s)) is None


@pytest.mark.parametrize("seed", range(6))
def test_fact_columns_equal_the_pure_functions(seed: int) -> None:
    """The NumPy views of the facts' columns (`_week_cells`, `_fact_persistent_poor`) equal `analytics.base` of the
    same week-end rows: random bands, scores, groups and (N, M) rules, ties in the poor counts."""
    rng = np.random.default_rng(seed)
    n, width = int(rng.choice([1, 9, 300])), br.FACT_WEEKS
    day = WORLD_AS_OF
    facts = br._Facts(day, (), br.hb.week_start(day), width)
    first = facts.first_week()
    codes = rng.integers(0, 5, size=(n, width))  # good, average, poor, none, no row
    scores = np.where(rng.random((n, width)) < 0.2, np.nan, rng.uniform(0, 100, (n, width)))
    ids = rng.permutation(np.arange(1, 5 * n + 1))[:n].astype(np.int64)
    labels = ["b", "a", "c"]
    index = rng.integers(0, 3, size=n).astype(np.int64)
    latest = np.where(rng.random(n) < 0.2, np.nan, rng.choice([0.0, 9.99, 10.0, 55.5, 99.9, 100.0, 130.0], n))
    band = rng.integers(0, 4, size=n)
    arr = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.uniform(0, 1e5, n), 2))
    rows = br._FactRows(labels, index, [None] * n, ids, [f"name {a}" for a in ids.tolist()], scores, codes, None, None,
                        arr, latest, band)
    for postgres in (False, True):
        got_dist = br.hb.distribution_of(br._fact_distribution(rows, postgres))
        want_dist = br.hb.distribution_of(
            br.hb.BandCount(labels[index[i]], br._CODE_BANDS[band[i]], None if math.isnan(latest[i])
                            else min(int(latest[i] // 10), 9), 1, float(arr[i])) for i in range(n))
        assert got_dist.keys() == want_dist.keys()
        for g, d in got_dist.items():
            assert (d.accounts, d.count, d.histogram) == (want_dist[g].accounts, want_dist[g].count,
                                                          want_dist[g].histogram)
            assert math.isclose(d.arr, want_dist[g].arr, rel_tol=1e-12, abs_tol=1e-6)
    week_rows = [br.hb.WeekHealth(int(ids[i]), first + dt.timedelta(weeks=w), None if math.isnan(scores[i, w])
                                  else float(scores[i, w]), br._CODE_BANDS[codes[i, w]])
                 for i in range(n) for w in range(width) if codes[i, w] != 4]
    for at_least, of_last in ((1, 1), (3, 4), (2, 26), (5, 8)):
        expected = br.hb.persistent_poor(week_rows, day, at_least, of_last)
        assert br._fact_persistent_poor(rows, facts, day, at_least, of_last) == expected
    cells = br._week_cells(labels, index, scores[:, 14:], codes[:, 14:], first + dt.timedelta(weeks=14))
    got = {(c.group, c.week, c.band): (c.accounts, c.scored, c.score_sum) for c in cells}
    want: dict[Any, list[Any]] = {}
    for i in range(n):
        for w in range(14, width):
            if codes[i, w] != 4:
                cell = want.setdefault((labels[index[i]], first + dt.timedelta(weeks=w), br._CODE_BANDS[codes[i, w]]),
                                       [0, 0, 0.0])
                cell[0] += 1
                if not math.isnan(scores[i, w]):
                    cell[1] += 1
                    cell[2] += float(scores[i, w])
    assert got == {k: tuple(v) for k, v in want.items()}
    assert sum(v[0] for v in got.values()) == int((codes[:, 14:] != 4).sum())


def test_views_sharing_one_read_of_the_facts_equal_each_computed_alone(seeded: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A preparation's Health views (every `by`) and Team views (every window) read the accounts' facts once
    (`shared`), and each equals the view computed alone: with a retired account, an account without facts and
    one without a CSM."""
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        _tasks(s, ws)
        s.add(Account(name="Alpha Unscored", domain="unscored.example", segment="smb", tier="gold",
                      lifecycle_stage="onboarding", arr=1234.5))
        for name, score in (("Alpha Poor Renewing", 71.0), ("Alpha Other Poor", 44.0)):  # a year back: 365 days
            s.add(HealthSnapshot(account_id=ws.accounts[name], day=WORLD_AS_OF - dt.timedelta(days=363), score=score,
                                 band="average" if score > 50 else "poor", parts={}, reasons=[]))
    with store.session(ws.tenant_id) as s:
        assert br.refresh_account_facts(s, MEASURES) == 5
    with store.session(ws.tenant_id) as s:
        def views(shared: dict[Any, Any] | None) -> dict[str, Any]:
            out = {by: br._health_report(s, by=by, measures=MEASURES, shared=shared) for by in br.BY}
            for days in br.TEAM_DAYS:
                facts = br._team_facts(s, days=days, as_of=None, shared=shared)
                out[f"team-{days}"] = br._team_view(facts, None, "admin", None)
                out[f"team-{days}-csm"] = br._team_view(facts, {ws.users["csm"]}, "csm", ws.users["csm"])
            return out

        reads = record_calls(monkeypatch, br, ("_core_rows",))
        alone = views(None)
        read_alone = len(reads)
        reads.clear()
        shared: dict[Any, Any] = {}
        together = views(shared)
        assert together == alone
        # 4 Health and 3 Team reads of the facts became one; the 365-day window (longer than the facts' weeks)
        # takes its accounts from it too, reads its first week's scores and tallies its tasks as the others do
        assert read_alone - len(reads) == 6 - 2
        assert [k for k in shared if k[0] == "every fact"] and alone["segment"]["groups"]
        assert alone["team-30"]["csms"] and alone["segment"]["overall"]["accounts"] == 5  # 4 live + unscored
        year = {c["user_id"]: c for c in alone["team-365"]["csms"]}
        assert year[ws.users["csm"]]["health_first"] == 71.0 and year[ws.users["csm2"]]["health_first"] == 44.0
