"""Issue 16: the report fact packs (migration 0037) the whole base's Health and Team views computed in a request
read — every figure equals the one computed from the account facts and from the snapshots, with a week without a
score, after accounts move segment and CSM, are deleted or two CSMs share a name, in two workspaces, on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from extensions import canary_store
from store.models import Account, HealthSnapshot, ReportFactPack, User
from sync import base_reports as br
from sync.reports import Cohort
from tests.console.conftest import CHEAP_ARGON2, Workspace, seed_workspace
from tests.shared import WORLD_AS_OF, record_calls
from tests.sync.test_account_facts import MEASURES, _tasks, console_app, seeded

__all__ = ["console_app", "seeded"]
PACK_READS = ("_pack_distribution", "_pack_week_counts", "_pack_benchmarks", "_pack_persistent_poor",
              "_pack_team_columns")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which views read a pack (one entry per part read) and which the facts."""
    return record_calls(monkeypatch, br, (*PACK_READS, "_fact_distribution", "_fact_team_columns"))


def _views(s: Any, ws: Workspace) -> dict[str, Any]:
    """The whole base's views (every `by`; other measures and weeks of poor health; Team over the windows the
    facts hold, as each role sees it) and a cohort's."""
    out: dict[str, Any] = {f"health-{by}": br._health_report(s, by=by, measures=MEASURES) for by in br.BY}
    out["health-few"] = br._health_report(s, by="csm", measures=MEASURES[1:3], weeks=26, poor_weeks=2, of_weeks=26)
    out["health-none"] = br._health_report(s, by="tier", weeks=4, poor_weeks=1, of_weeks=1)
    out["cohort"] = br._health_report(s, by="tier", cohort=Cohort(csm_user_id=ws.users["csm"]), measures=MEASURES)
    for days in br.TEAM_DAYS:
        out[f"team-{days}"] = br._team_report(s, days=days)
    out["team-csm"] = br._team_report(s, days=30, role="csm", user_id=ws.users["csm"])
    out["team-manager"] = br._team_report(s, days=90, role="manager", user_id=ws.users["manager"])
    out["team-365-csm"] = br._team_report(s, days=365, role="csm", user_id=ws.users["csm"])
    out["team-365-manager"] = br._team_report(s, days=365, role="manager", user_id=ws.users["manager"])
    return out


def _from_facts(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(br, "_fact_pack", lambda *args, **kwargs: None)
        return _views(s, ws)


def _from_snapshots(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(br, "fresh_account_facts", lambda *args, **kwargs: None)
        return _views(s, ws)


def _world(s: Any, ws: Workspace) -> None:
    """Tasks and alerts of every kind; measure values on the latest snapshots (one account without, one with a
    text value); a week whose week-end snapshot has no score (Sunday 1 November), a week without a snapshot
    (2…8 November) of one account."""
    _tasks(s, ws)
    for i, name in enumerate(("Alpha Poor Renewing", "Alpha Poor Later", "Alpha Other Poor", "Alpha Unowned")):
        parts = {m: {"value": 1.5 * i + j} for j, m in enumerate(MEASURES[:4])}
        parts[MEASURES[1]] = {"value": str(2.25 * i)}
        if i == 3:
            del parts[MEASURES[2]]
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == ws.accounts[name],
                                               HealthSnapshot.day == WORLD_AS_OF).values(parts={"parts": parts}))
    other = ws.accounts["Alpha Other Poor"]
    s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == other,
                                           HealthSnapshot.day == WORLD_AS_OF - dt.timedelta(days=29))
              .values(score=None, band=None))
    s.execute(delete(HealthSnapshot).where(HealthSnapshot.account_id == other,
                                           HealthSnapshot.day.between(WORLD_AS_OF - dt.timedelta(days=28),
                                                                      WORLD_AS_OF - dt.timedelta(days=22))))


def _year(s: Any, ws: Workspace) -> None:
    """Snapshots older than the facts' 26 weeks (the 365 days' window's first week and a week between, one of them
    without a score), of accounts of two CSMs and of the unowned one."""
    first = WORLD_AS_OF - dt.timedelta(days=364)
    for i, name in enumerate(("Alpha Poor Renewing", "Alpha Poor Later", "Alpha Other Poor", "Alpha Unowned")):
        for back, score, band in ((0, 70.0 - 11 * i, "good" if i < 2 else "poor"), (3, 60.5 + i, "average"),
                                  (90, None if i == 1 else 41.25 + i, None if i == 1 else "poor")):
            s.add(HealthSnapshot(account_id=ws.accounts[name], day=first + dt.timedelta(days=back), score=score,
                                 band=band, trend=0.0, reasons=[], parts={"parts": {}}))


def test_pack_views_equal_the_facts_and_snapshots(seeded: Any, reads: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        _world(s, ws)
        _year(s, ws)
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        assert sorted(s.scalars(select(ReportFactPack.part))) == ["adoption", "health", "team"]
        reads.clear()
        packed = _views(s, ws)
        assert set(PACK_READS) <= set(reads)
        assert reads.count("_fact_distribution") == 1  # the cohort's only
        assert reads.count("_fact_team_columns") == 0
        assert packed == _from_facts(s, ws, monkeypatch) == _from_snapshots(s, ws, monkeypatch)
        # the figures are there to compare: groups, trend weeks, benchmarks, poor accounts, Team figures
        assert packed["health-segment"]["overall"]["accounts"] == 4 and packed["health-csm"]["groups"]
        assert packed["health-segment"]["benchmarks"] and len(packed["health-few"]["trend"]) == 3
        assert len(packed["health-few"]["benchmarks"]) == 2
        assert packed["health-segment"]["persistent_poor"]["accounts"]
        assert {p["name"] for p in packed["health-few"]["persistent_poor"]["accounts"]} >= {"Alpha Poor Later"}
        assert packed["health-none"]["benchmarks"] == []
        csms = {c["user_id"]: c for c in packed["team-30"]["csms"]}
        assert sum(c["on_time"] + c["late"] for c in csms.values()) >= 4 and sum(c["acted"] for c in csms.values())
        assert packed["team-csm"]["trend"] and packed["team-manager"]["teams"]
        # the 365 days' window too: its first week's scores and the weeks before the facts' are the pack's
        assert packed["team-365"]["csms"] and packed["team-365-manager"]["teams"]
        assert any(c["health_first"] is not None for c in packed["team-365"]["csms"])
        assert {len(points) for points in packed["team-365"]["trend"].values()} == {53}
        old = [p for points in packed["team-365"]["trend"].values() for p in points[:27] if p["accounts"]]
        assert len({p["week"] for p in old}) >= 2 and any(p["average_score"] is not None for p in old)
        reads.clear()
        assert br._team_report(s, days=365) == packed["team-365"]
        assert "_pack_team_columns" in reads and "_fact_team_columns" not in reads
        # what the pack does not hold is read from the facts or snapshots: another day
        reads.clear()
        br._health_report(s, as_of=WORLD_AS_OF - dt.timedelta(days=3), measures=MEASURES)
        br._team_report(s, days=30, as_of=WORLD_AS_OF - dt.timedelta(days=3))
        br._health_report(s, measures=["not a measure"])
        br._health_report(s, weeks=27)
        assert not set(PACK_READS) & set(reads)


def test_pack_follows_moves_deletes_and_shared_names(seeded: Any, reads: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = seeded
    a = ws.accounts
    with store.session(ws.tenant_id) as s:
        _world(s, ws)
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    # moves (as a sync writes them): the pack no longer holds, the views read the facts, until prepared again
    with store.session(ws.tenant_id) as s:
        later = s.get(Account, a["Alpha Poor Later"])
        assert later is not None
        later.csm_user_id, later.segment = ws.users["csm2"], "enterprise"
    with store.session(ws.tenant_id) as s:
        reads.clear()
        moved = _views(s, ws)
        assert not set(PACK_READS) & set(reads) and "_fact_team_columns" in reads
        assert moved == _from_snapshots(s, ws, monkeypatch)
        assert moved["health-segment"]["groups"]["enterprise"]["accounts"] == 1
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == moved and "_pack_team_columns" in reads
    # a deleted account (its facts with it): the pack no longer holds
    with store.session(ws.tenant_id) as s:
        s.execute(delete(Account).where(Account.id == a["Alpha Good Steady"]))
    with store.session(ws.tenant_id) as s:
        reads.clear()
        deleted = _views(s, ws)
        assert not set(PACK_READS) & set(reads)
        assert deleted == _from_snapshots(s, ws, monkeypatch) != moved
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == deleted and "_pack_distribution" in reads
    # two CSMs of one name: their groups merge, which the pack's cells per CSM cannot do; the other views hold
    with store.session(ws.tenant_id) as s:
        other = s.get(User, ws.users["csm2"])
        assert other is not None
        other.name = "Alpha Csm"
    with store.session(ws.tenant_id) as s:
        reads.clear()
        named = _views(s, ws)
        assert named == _from_snapshots(s, ws, monkeypatch)
        assert "_pack_team_columns" not in reads and "_pack_benchmarks" in reads
        assert "Alpha Csm" in named["health-csm"]["groups"] and "Alpha Othercsm" not in named["health-csm"]["groups"]


def test_packs_of_two_workspaces(app_factory: Any, database_url: str, reads: list[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    store = canary_store(app)
    ws, beta = seed_workspace(app, "alpha", "Alpha"), seed_workspace(app, "beta", "Beta")
    with store.session(ws.tenant_id) as s:
        _world(s, ws)
    with store.session(beta.tenant_id) as s:  # beta: one account more, no tasks
        s.add(Account(name="Beta Extra", domain="extra.beta.example", segment="smb", tier="gold", arr=10.0))
    for w in (ws, beta):
        with store.session(w.tenant_id) as s:
            br.prepare_base_reports(s)
    with store.session() as s:  # a row per workspace and part (and the adoption pack: tests/sync/test_adoption_pack.py)
        assert s.execute(text("SELECT tenant_id, count(*) FROM report_fact_packs WHERE part <> 'adoption' "
                              "GROUP BY tenant_id ORDER BY 1")).all() == [(ws.tenant_id, 2), (beta.tenant_id, 2)]
    for w in (ws, beta):
        with store.session(w.tenant_id) as s:
            reads.clear()
            packed = _views(s, w)
            assert "_pack_distribution" in reads and "_pack_team_columns" in reads
            assert packed == _from_snapshots(s, w, monkeypatch)
            assert packed["health-segment"]["overall"]["accounts"] == (4 if w is ws else 6)  # alpha: one retired
    with store.session(beta.tenant_id) as s:  # beta's rescore drops its facts and pack only
        br.drop_base_reports(s)
    with store.session() as s:
        assert s.execute(text("SELECT tenant_id, part FROM report_fact_packs ORDER BY 2")).all() == [
            (ws.tenant_id, "adoption"), (ws.tenant_id, "health"), (ws.tenant_id, "team")]
