"""Issue 16: report pages stay fast through real-time changes. A score run of some accounts (`score_tenant(only=…)`,
what `sync.realtime.process_changes` runs after fetching records) patches the report sources
(`sync.base_reports.patch_base_reports`) instead of dropping them: those accounts' facts, the packs and their usage
facts — and every figure of every view equals what a fresh full preparation gives after the same changes, and what
the raw rows give: a rescore changing a band, an account moving segment, CSM and tier, a deleted account, a new
account, several changes in a row, two workspaces, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from console.people import add_user
from extensions import canary_store
from scoring import default_model
from store import panel_views
from store.models import (
    Account,
    AccountFact,
    HealthSnapshot,
    ReportCopy,
    ReportFactPack,
    ReportFactsState,
    SourceLink,
    Subscription,
    UsageAccountFact,
    UsageDaily,
    UsageFactsState,
)
from sync import base_reports as br
from sync import reports as rp
from sync import usage_facts as uf
from sync.changes import Change
from sync.health import score_tenant
from sync.realtime import process_changes
from sync.reports import Cohort
from tests.console.conftest import CHEAP_ARGON2, Workspace, seed_workspace
from tests.shared import WORLD_AS_OF, record_calls
from tests.sync.test_account_facts import MEASURES
from tests.sync.test_fetch_by_id import synced
from tests.sync.test_report_fact_packs import _world
from tests.sync.test_sandbox_pipeline import adapters
from tests.sync.test_usage_facts import KEYS, LOGIN, _usage, console_app

__all__ = ["console_app", "synced"]
ADOPTION: dict[str, Any] = {"key_features": KEYS, "login_event": LOGIN}
PACK_READS = ("_pack_distribution", "_pack_week_counts", "_pack_benchmarks", "_pack_persistent_poor",
              "_pack_team_columns")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which sources the views read: the packs' parts, the facts' rows, the adoption pack ("adoption pack")."""
    calls = record_calls(monkeypatch, br, (*PACK_READS, "_fact_distribution", "_fact_team_columns"))
    found = br._adoption_pack

    def counting(*args: Any, **kwargs: Any) -> Any:
        held = found(*args, **kwargs)
        if held is not None:
            calls.append("adoption pack")
        return held

    monkeypatch.setattr(br, "_adoption_pack", counting)
    return calls


def _seed(app: Any, slug: str, name: str, salt: int = 0) -> Workspace:
    ws = seed_workspace(app, slug, name)
    store = canary_store(app)
    with store.session(ws.tenant_id) as s:
        if name == "Alpha":  # (its accounts' names)
            _world(s, ws)
        s.add_all(_usage(sorted(ws.accounts.values()), salt))
        # no earlier day's score for a rescore to start from (the seeded parts are not a score's)
        s.execute(update(HealthSnapshot).where(HealthSnapshot.day < WORLD_AS_OF).values(parts={}))
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    return ws


@pytest.fixture
def alpha(app_factory: Any, database_url: str) -> tuple[Any, Workspace]:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    return canary_store(app), _seed(app, "alpha", "Alpha")


def _views(s: Any, ws: Workspace) -> dict[str, Any]:
    """The views a request computes: the whole base's Health by every `by` (packed), other measures and weeks, a
    cohort's; Team over 7, 30 and 90 days as an admin, a CSM and a manager see it; the whole base's Adoption (6,
    3 and 1 months) and a cohort's; the Users leaderboard."""
    out: dict[str, Any] = {f"health-{by}": br._health_report(s, by=by, measures=MEASURES) for by in br.BY}
    out["health-few"] = br._health_report(s, by="csm", measures=MEASURES[1:3], weeks=26, poor_weeks=2, of_weeks=26)
    out["cohort"] = br._health_report(s, by="tier", cohort=Cohort(csm_user_id=ws.users["csm"]), measures=MEASURES)
    for days in (7, 30, 90):
        out[f"team-{days}"] = br._team_report(s, days=days)
    out["team-csm"] = br._team_report(s, days=30, role="csm", user_id=ws.users["csm"])
    out["team-manager"] = br._team_report(s, days=90, role="manager", user_id=ws.users["manager"])
    for months in (6, 3, 1):
        out[f"adoption-{months}"] = br._adoption_report(s, **ADOPTION, months=months)
    out["adoption-csm"] = br._adoption_report(s, **ADOPTION, cohort=Cohort(csm_user_id=ws.users["csm"]))
    out["users"] = br._leaderboard_report(s, key_features=KEYS)
    return out


def _stored(s: Any) -> dict[str, Any]:
    """The pages' default views (the stored copies, or built and stored on this first request)."""
    out: dict[str, Any] = {f"health-{by}": br.health_report(s, by=by, measures=MEASURES) for by in br.BY}
    out["team-30"] = br.team_report(s, days=30)
    out["adoption"] = br.adoption_report(s, **ADOPTION)
    out["users"] = br.leaderboard_report(s, key_features=KEYS)
    return out


def _from_rows(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The same views from the snapshots, week rows and monthly usage rows (no facts, no pack)."""
    with monkeypatch.context() as m:
        m.setattr(br, "fresh_account_facts", lambda *args, **kwargs: None)
        m.setattr(uf, "fresh_usage_facts", lambda *args, **kwargs: None)
        return _views(s, ws)


def _after_prepare(s: Any, ws: Workspace) -> dict[str, Any]:
    """The same views after a fresh full preparation (rolled back: the patched sources stay)."""
    point = s.begin_nested()
    try:
        br.prepare_base_reports(s)
        return {**_views(s, ws), **{f"stored-{k}": v for k, v in _stored(s).items()}}
    finally:
        point.rollback()


def _check(store: Any, ws: Workspace, reads: list[str], monkeypatch: pytest.MonkeyPatch, *,
           usage_patched: bool = True) -> dict[str, Any]:
    """The patched sources serve the whole base's views (packs), which equal the raw rows' and a fresh
    preparation's; the default views' copies too. Returns the views."""
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(ReportFactsState)) == 1
        reads.clear()
        patched = _views(s, ws)
        assert set(PACK_READS) <= set(reads), reads
        assert reads.count("_fact_distribution") == 1  # the cohort's only
        assert reads.count("_fact_team_columns") == 0
        assert ("adoption pack" in reads) is usage_patched
        stored = _stored(s)
        assert patched == _from_rows(s, ws, monkeypatch)
        fresh = _after_prepare(s, ws)
        assert patched == {k: v for k, v in fresh.items() if not k.startswith("stored-")}
        assert {f"stored-{k}": v for k, v in stored.items()} == {k: v for k, v in fresh.items()
                                                                  if k.startswith("stored-")}
    with store.session(ws.tenant_id) as s:  # the copies stored on the first request are read again
        assert _stored(s) == stored
    return patched


def _scores(store: Any, ws: Workspace) -> dict[int, tuple[Any, Any]]:
    with store.session(ws.tenant_id) as s:
        return {a: (score, band) for a, score, band in s.execute(
            select(HealthSnapshot.account_id, HealthSnapshot.score, HealthSnapshot.band)
            .where(HealthSnapshot.day == WORLD_AS_OF))}


def test_a_rescore_of_some_accounts_patches_the_sources(alpha: Any, reads: list[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = alpha
    a, model = ws.accounts, default_model()
    before = _check(store, ws, reads, monkeypatch)
    with store.session(ws.tenant_id) as s:
        copies = s.scalar(select(func.count()).select_from(ReportCopy))
        assert copies and s.scalar(select(func.count()).select_from(ReportCopy).where(ReportCopy.report == "users"))
        packs = dict(s.execute(select(ReportFactPack.part, ReportFactPack.built_at)).all())
    # 1. a rescore (as of the latest scored day) rewrites snapshots in place: its band moves
    scores = _scores(store, ws)
    changed = ["Alpha Good Steady", "Alpha Poor Renewing", "Alpha Poor Later", "Alpha Other Poor"]
    calls = record_calls(monkeypatch, br, ("drop_base_reports", "prepare_base_reports", "refresh_account_facts",
                                           "refresh_account_facts_of", "_build_pack"))
    calls_uf = record_calls(monkeypatch, uf, ("refresh_usage_facts", "patch_usage_facts"))
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a[n] for n in changed])
    assert calls == ["refresh_account_facts_of", "_build_pack"] and calls_uf == ["patch_usage_facts"]
    rescored = _scores(store, ws)
    assert any(rescored[a[n]] != scores[a[n]] for n in changed)  # something to patch
    assert any(rescored[a[n]][1] != scores[a[n]][1] for n in changed)  # a band moved
    with store.session(ws.tenant_id) as s:  # health, team, adoption copies dropped; users', filters' kept
        assert set(s.scalars(select(ReportCopy.report).distinct())) == {"filters", "users"}
        assert all(built > packs[part] for part, built in s.execute(
            select(ReportFactPack.part, ReportFactPack.built_at)).all())
    first = _check(store, ws, reads, monkeypatch)
    assert first != before
    # 1b. the same rescore again changes no fact: the packs stamped again, not rebuilt
    calls.clear()
    calls_uf.clear()
    counted = record_calls(monkeypatch, uf, ("fact_adoption_counts",))
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a[n] for n in changed])
    assert calls == ["refresh_account_facts_of"] and calls_uf == ["patch_usage_facts"] and counted == []
    assert _scores(store, ws) == rescored
    assert _check(store, ws, reads, monkeypatch) == first
    # 2. an account moves segment, CSM and tier (a record fetch writes it), then is rescored
    with store.session(ws.tenant_id) as s:
        later = s.get(Account, a["Alpha Poor Later"])
        assert later is not None
        later.segment, later.csm_user_id, later.tier = "enterprise", ws.users["csm2"], "platinum"
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Poor Later"]])
    moved = _check(store, ws, reads, monkeypatch)
    assert moved["health-segment"]["groups"]["enterprise"]["accounts"] == 1 and moved != first
    # 3. a deleted account (a fetch's delete retires it): no longer counted
    with store.session(ws.tenant_id) as s:
        gone = s.get(Account, a["Alpha Unowned"])
        assert gone is not None
        gone.lifecycle_stage = "retired"
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Unowned"]])
    deleted = _check(store, ws, reads, monkeypatch)
    assert deleted["health-segment"]["overall"]["accounts"] == moved["health-segment"]["overall"]["accounts"] - 1
    # 4. a new account, its first snapshot (added after the facts were built), usage of its own
    with store.session(ws.tenant_id) as s:
        new = Account(name="Alpha New", domain="new.alpha.example", segment="smb", tier="gold", arr=1234.0,
                      csm_user_id=ws.users["csm"])
        s.add(new)
        s.flush()
        new_id = new.id
        s.add_all(_usage([new_id], salt=3))
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[new_id])
    added = _check(store, ws, reads, monkeypatch)
    assert added["health-segment"]["overall"]["accounts"] == deleted["health-segment"]["overall"]["accounts"] + 1
    assert added["adoption-6"]["accounts"] == deleted["adoption-6"]["accounts"] + 1
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(AccountFact).where(AccountFact.account_id == new_id)) == 1
        assert s.scalar(select(func.count()).select_from(UsageAccountFact)
                        .where(UsageAccountFact.account_id == new_id)) == 1


def test_usage_of_other_accounts_or_another_day_falls_back(alpha: Any, reads: list[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = alpha
    a, model = ws.accounts, default_model()
    # usage of an account not rescored arrived since the usage facts were built: they are dropped (the Adoption
    # and Users views read the monthly rows until the next preparation); the Health and Team sources are patched
    with store.session(ws.tenant_id) as s:
        s.add_all(_usage([a["Alpha Poor Later"]], salt=5))
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Poor Renewing"]])
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(UsageFactsState)) == 0
        assert set(s.scalars(select(ReportFactPack.part))) == {"health", "team"}
    _check(store, ws, reads, monkeypatch, usage_patched=False)
    # usage of the rescored account itself: patched
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        s.add_all(_usage([a["Alpha Poor Renewing"]], salt=7))
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Poor Renewing"]])
    _check(store, ws, reads, monkeypatch)
    # a subscription of the rescored account changed (a deal fetched): patched; of another account: dropped
    for name, patched in (("Alpha Poor Renewing", True), ("Alpha Other Poor", False)):
        with store.session(ws.tenant_id) as s:
            deal = s.scalars(select(Subscription).where(Subscription.account_id == a[name])).first()
            assert deal is not None
            deal.seats_purchased, deal.product_tier = 7, "Enterprise"
        score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Poor Renewing"]])
        with store.session(ws.tenant_id) as s:
            assert s.scalar(select(func.count()).select_from(UsageFactsState)) == int(patched)
        _check(store, ws, reads, monkeypatch, usage_patched=patched)
    # a later day scored for one account moves every account's latest day: everything dropped, as before
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF + dt.timedelta(days=1), only=[a["Alpha Poor Renewing"]])
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(ReportFactsState)) == 0
        assert s.scalar(select(func.count()).select_from(ReportFactPack)) == 0
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == 0


def test_a_realtime_change_leaves_the_packs_holding(alpha: Any, reads: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = alpha
    a, model = ws.accounts, default_model()
    with store.session(ws.tenant_id) as s:  # the product's account: its usage of the last two weeks stops
        s.add(SourceLink(system="product", external_id="prod-good", account_id=a["Alpha Good Steady"],
                         name="Good", method="product", reason="the product's account id"))
        s.execute(delete(UsageDaily).where(UsageDaily.account_id == a["Alpha Good Steady"],
                                           UsageDaily.day > WORLD_AS_OF - dt.timedelta(days=14)),
                  execution_options=panel_views.touches([a["Alpha Good Steady"]]))
    summary = process_changes(store, ws.tenant_id, [Change("product", "usage", "prod-good")], adapters={},
                              model=model, as_of=WORLD_AS_OF)
    assert summary.accounts == [a["Alpha Good Steady"]]
    assert summary.reports_prepared is False  # patched: nothing to prepare again
    _check(store, ws, reads, monkeypatch)


def test_the_first_change_of_a_new_day_prepares_the_dropped_sources_again(alpha: Any, reads: list[str],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A real-time change scored on the day after the sources' (the first change of a new day, before its score run)
    moves every account's latest day: the rescore drops the sources, and the job prepares them again, so the pages
    read the packs of the new day, not the snapshots; the next change of that day is patched."""
    store, ws = alpha
    a, model = ws.accounts, default_model()
    later = WORLD_AS_OF + dt.timedelta(days=1)
    with store.session(ws.tenant_id) as s:
        s.add(SourceLink(system="product", external_id="prod-renewing", account_id=a["Alpha Poor Renewing"],
                         name="Renewing", method="product", reason="the product's account id"))
    # (its score of the sources' day first: the seeded snapshots' parts are not a score's to start from)
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Poor Renewing"]])
    prepared = record_calls(monkeypatch, br, ("prepare_base_reports",))
    summary = process_changes(store, ws.tenant_id, [Change("product", "usage", "prod-renewing")], adapters={},
                              model=model, as_of=later)
    assert summary.accounts == [a["Alpha Poor Renewing"]]
    assert summary.reports_prepared is True and prepared == ["prepare_base_reports"]
    with store.session(ws.tenant_id) as s:  # the renewal forecast's p(band) stored for the new latest day
        assert rp.prepare_reports(s) is False
    with store.session(ws.tenant_id) as s:
        assert br.as_of_day(s) == later
        assert s.scalar(select(ReportFactsState.day)) in (later, later.isoformat())
        assert br.sources_missing(s) is False
    _check(store, ws, reads, monkeypatch)
    prepared.clear()  # (the check's own fresh preparation, rolled back)
    summary = process_changes(store, ws.tenant_id, [Change("product", "usage", "prod-renewing")], adapters={},
                              model=model, as_of=later)
    assert summary.reports_prepared is False and prepared == []
    _check(store, ws, reads, monkeypatch)



def test_a_failed_preparation_after_a_change_is_told_not_raised(alpha: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The changes are rescored and pushed when the preparation after them fails: the job answers with the problem
    (the pages read the rows until the next sync), not an error that would retry the whole job."""
    from sqlalchemy.exc import OperationalError

    store, ws = alpha
    a, model = ws.accounts, default_model()
    with store.session(ws.tenant_id) as s:
        s.add(SourceLink(system="product", external_id="prod-renewing", account_id=a["Alpha Poor Renewing"],
                         name="Renewing", method="product", reason="the product's account id"))
    score_tenant(store, ws.tenant_id, model, WORLD_AS_OF, only=[a["Alpha Poor Renewing"]])

    def failing(*args: Any, **kwargs: Any) -> int:
        raise OperationalError("SELECT 1", {}, Exception("the database went away"))

    monkeypatch.setattr(br, "prepare_base_reports", failing)
    later = WORLD_AS_OF + dt.timedelta(days=1)
    summary = process_changes(store, ws.tenant_id, [Change("product", "usage", "prod-renewing")], adapters={},
                              model=model, as_of=later)
    assert summary.accounts == [a["Alpha Poor Renewing"]] and summary.reports_prepared is False
    assert summary.problems == ["report sources not prepared again (OperationalError); the report pages read the "
                                "snapshots until the next sync"]
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.max(HealthSnapshot.day))) == later and br.sources_missing(s) is True


def test_a_person_added_moves_accounts_and_the_packs_still_hold(alpha: Any, reads: list[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin adds the person an account's owner e-mail names (`console.people.add_user` → `assign_csms`): the
    account moves to the new CSM, and its facts and the packs are patched (not left stale until the next sync)."""
    store, ws = alpha
    a = ws.accounts
    with store.session(ws.tenant_id) as s:  # the owner is someone not invited yet: no CSM, then prepared
        moved = s.get(Account, a["Alpha Poor Later"])
        assert moved is not None
        moved.owner, moved.csm_user_id = "newcsm@alpha.example", None
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    before = _check(store, ws, reads, monkeypatch)
    calls = record_calls(monkeypatch, br, ("patch_base_reports", "drop_base_reports"))
    with store.session(ws.tenant_id) as s:
        person = add_user(s, "NewCsm@alpha.example", "csm", name="Alpha Newcsm")
        person_id = person.id
    assert calls == ["patch_base_reports"]
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(Account.csm_user_id).where(Account.id == a["Alpha Poor Later"])) == person_id
    after = _check(store, ws, reads, monkeypatch)  # served by the packs, equal to a fresh preparation
    assert "Alpha Newcsm" in after["health-csm"]["groups"] and "Alpha Newcsm" not in before["health-csm"]["groups"]
    assert after["health-csm"]["groups"]["Alpha Newcsm"]["accounts"] == 1
    calls.clear()  # a person whose address owns no account moves nothing: nothing patched
    with store.session(ws.tenant_id) as s:
        add_user(s, "nobody@alpha.example", "viewer")
    assert calls == []


def test_a_patch_touches_its_workspace_only(app_factory: Any, database_url: str, reads: list[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    store = canary_store(app)
    ws, beta = _seed(app, "alpha", "Alpha"), _seed(app, "beta", "Beta", salt=1)
    with store.session() as s:
        others = dict(s.execute(select(ReportFactPack.part, ReportFactPack.built_at)
                                .where(ReportFactPack.tenant_id == ws.tenant_id)).all())
        facts = s.scalar(select(func.count()).select_from(AccountFact).where(AccountFact.tenant_id == ws.tenant_id))
    with store.session(beta.tenant_id) as s:
        moved = s.get(Account, beta.accounts["Beta Poor Later"])
        assert moved is not None
        moved.segment = "enterprise"
    score_tenant(store, beta.tenant_id, default_model(), WORLD_AS_OF, only=[beta.accounts["Beta Poor Later"]])
    with store.session() as s:
        assert dict(s.execute(select(ReportFactPack.part, ReportFactPack.built_at)
                              .where(ReportFactPack.tenant_id == ws.tenant_id)).all()) == others
        assert s.scalar(select(func.count()).select_from(AccountFact)
                        .where(AccountFact.tenant_id == ws.tenant_id)) == facts
    for w in (ws, beta):
        views = _check(store, w, reads, monkeypatch)
        assert ("enterprise" in views["health-segment"]["groups"]) is (w is beta)


def _base_views(s: Any) -> dict[str, Any]:
    """The whole base's views (no cohort, no role): Health by every `by`, Team, Adoption, Users."""
    model = default_model()
    keys, login = model.signals.key_features, model.signals.login_event
    out: dict[str, Any] = {f"health-{by}": br._health_report(s, by=by, measures=sorted(model.measures))
                           for by in br.BY}
    for days in (7, 30, 90):
        out[f"team-{days}"] = br._team_report(s, days=days)
    out["adoption"] = br._adoption_report(s, key_features=keys, login_event=login)
    out["users"] = br._leaderboard_report(s, key_features=keys)
    return out


def test_records_fetched_by_id_then_rescored_patch_the_sources(synced: Any, reads: list[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP against the sandbox: an organization renamed with a new ticket, a deal's amount, two companies
    merged — fetched and rescored by `process_changes`; the sources patched, the views those of the rows."""
    box, _clock, store, tenant = synced
    model = default_model()
    score_tenant(store, tenant, model, WORLD_AS_OF)  # the whole run: the sources prepared
    zd, hs = box.emulators["zendesk"], box.emulators["hubspot"]
    org = next(o for o in zd.records("organizations") if o["external_id"])
    zd.update("organizations", str(org["id"]), {"name": f"{org['name']} (renamed)"})
    requester = next(u for u in zd.records("users") if u["organization_id"] == org["id"])
    ticket = str(zd.create_ticket(org["id"], requester["id"], "Cannot export the monthly report", "high"))
    deal = next(d for d in hs.records("deals") if not d["archived"])
    hs.update("deals", deal["id"], {"amount": "123456"})
    companies = [c["id"] for c in hs.records("companies") if not c["archived"]]
    hs.merge("companies", companies[3], companies[7])
    changes = [Change("zendesk", "accounts", str(org["id"])), Change("zendesk", "tickets", ticket),
               Change("hubspot", "deals", deal["id"]), Change("hubspot", "accounts", companies[7], kind="merge",
                                                                merged_into=companies[3])]
    with store.session(tenant) as s:
        marks = s.execute(select(ReportFactsState.fingerprint, ReportFactsState.built_at)).one()
    summary = process_changes(store, tenant, changes, adapters=adapters(box), model=model, as_of=WORLD_AS_OF,
                              push_systems=[])
    assert len(summary.accounts) >= 3 and not summary.problems, summary.as_dict()
    with store.session(tenant) as s:
        patched = s.execute(select(ReportFactsState.fingerprint, ReportFactsState.built_at)).one()
        assert patched.built_at > marks.built_at  # patched, not dropped nor prepared
        assert s.scalar(select(func.count()).select_from(UsageFactsState)) == 1
        reads.clear()
        views = _base_views(s)
        assert "_pack_distribution" in reads and "_pack_team_columns" in reads and "adoption pack" in reads
        with monkeypatch.context() as m:
            m.setattr(br, "fresh_account_facts", lambda *args, **kwargs: None)
            m.setattr(uf, "fresh_usage_facts", lambda *args, **kwargs: None)
            assert views == _base_views(s)
        point = s.begin_nested()
        br.prepare_base_reports(s, model)
        assert views == _base_views(s)
        point.rollback()
