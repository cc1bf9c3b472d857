"""Issue 16: the stored copies of the Health, Adoption, Users and Team reports (`sync.base_reports`) — what a page
reads after a sync or a score run equals what the request would compute, follows the data, and is never another
workspace's or another role's."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, update

from extensions import canary_store
from scoring import default_model
from store.db import Store
from store.models import Account, ReportCopy, Task, UsageDaily
from store.tenants import create_tenant
from sync import base_reports as br
from tests.console.conftest import CHEAP_ARGON2, Workspace, console_app, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF

__all__ = ["console_app"]
MODEL = default_model()
MEASURES = sorted(MODEL.measures)
KEYS, LOGIN = MODEL.signals.key_features, MODEL.signals.login_event
PREPARED = 4 + 1 + 1 + 1 + 4 * 4
"""Health by 4 dimensions, Adoption, Users, the cohort filter's choices, Team over 4 windows for 4 scopes
(everyone, a manager, two CSMs)."""


@pytest.fixture
def two(app_factory: Any, database_url: str, db_templates: Templates) -> tuple[Any, Workspace, Workspace]:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    alpha, beta = seeded_workspaces(app, db_templates, ("alpha", "Alpha"), ("beta", "Beta"))
    return canary_store(app), alpha, beta


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each report was computed (not read from a copy)."""
    counted: Counter[str] = Counter()
    for name in ("_health_report", "_adoption_report", "_leaderboard_report", "_team_facts"):
        def counting(*args: Any, _name: str = name, _fn: Any = getattr(br, name), **kwargs: Any) -> Any:
            counted[_name] += 1
            return _fn(*args, **kwargs)
        monkeypatch.setattr(br, name, counting)
    return counted


def _defaults(s: Any) -> dict[str, Any]:
    """The pages' default views, as the console asks for them."""
    return {**{f"health-{by}": br.health_report(s, by=by, measures=MEASURES) for by in br.BY},
            "adoption": br.adoption_report(s, key_features=KEYS, login_event=LOGIN),
            "users": br.leaderboard_report(s, key_features=KEYS),
            **{f"team-{d}": br.team_report(s, days=d) for d in br.TEAM_DAYS}}


def _computed(s: Any) -> dict[str, Any]:
    """The same views computed in the request, no copy involved."""
    return {**{f"health-{by}": br._health_report(s, by=by, measures=MEASURES) for by in br.BY},
            "adoption": br._adoption_report(s, key_features=KEYS, login_event=LOGIN),
            "users": br._leaderboard_report(s, key_features=KEYS),
            **{f"team-{d}": br._team_report(s, days=d) for d in br.TEAM_DAYS}}


def test_prepared_copies_equal_the_computed_reports_and_are_read_without_computing(two: Any,
                                                                                   builds: Counter[str]) -> None:
    store, alpha, _ = two
    with store.session(alpha.tenant_id) as s:
        # team: everyone, the manager and the two CSMs, over 7, 30, 90 and 365 days: one computation per window
        assert br.prepare_base_reports(s, MODEL) == PREPARED
    assert builds == {"_health_report": 4, "_adoption_report": 1, "_leaderboard_report": 1, "_team_facts": 4}
    builds.clear()
    with store.session(alpha.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == PREPARED
        read = _defaults(s)
        assert sum(builds.values()) == 0  # every default view came from its copy
        computed = _computed(s)
    assert read == computed
    assert read["health-segment"]["overall"]["accounts"] == 5 and read["health-segment"]["as_of"] == "2026-11-30"
    assert [u["user_key"] for u in read["users"]["users"]] == [u["user_key"] for u in computed["users"]["users"]]


def test_a_change_to_the_data_rebuilds_the_copy_and_prepare_replaces_every_copy(
        two: Any, builds: Counter[str]) -> None:
    store, alpha, _ = two
    poor = alpha.accounts["Alpha Poor Renewing"]
    with store.session(alpha.tenant_id) as s:
        br.prepare_base_reports(s, MODEL)
        before = br.health_report(s, by="segment", measures=MEASURES)
    builds.clear()
    with store.session(alpha.tenant_id) as s:  # a sync moved an account to another segment: a new fingerprint
        s.execute(update(Account).where(Account.id == poor).values(segment="enterprise",
                                                                   updated_at=dt.datetime(2026, 11, 30, 23, 0,
                                                                                          tzinfo=dt.UTC)))
    with store.session(alpha.tenant_id) as s:
        after = br.health_report(s, by="segment", measures=MEASURES)
        assert builds["_health_report"] == 1
        assert after == br._health_report(s, by="segment", measures=MEASURES) != before
        assert after["groups"]["enterprise"]["accounts"] == 1
        assert s.scalar(select(func.count()).select_from(ReportCopy).where(ReportCopy.report == "health")) == 1
        # what a change the aggregates cannot see leaves behind (a usage count raised in place): a copy whose
        # fingerprint holds but whose figures are old; a run's prepare drops and rebuilds it
        s.execute(update(ReportCopy).where(ReportCopy.report == "health")
                  .values(payload=zlib.compress(json.dumps({"old": True}).encode())))
    with store.session(alpha.tenant_id) as s:
        assert br.health_report(s, by="segment", measures=MEASURES) == {"old": True}
        br.prepare_base_reports(s, MODEL)
    with store.session(alpha.tenant_id) as s:
        assert br.health_report(s, by="segment", measures=MEASURES) == after
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == PREPARED


def test_copies_are_never_served_to_another_workspace(two: Any, builds: Counter[str]) -> None:
    store, alpha, beta = two
    with store.session(alpha.tenant_id) as s:
        br.prepare_base_reports(s, MODEL)
        alpha_users = br.leaderboard_report(s, key_features=KEYS)
    builds.clear()
    with store.session(beta.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == 0
        beta_users = br.leaderboard_report(s, key_features=KEYS)
        assert builds["_leaderboard_report"] == 1
        assert beta_users == br._leaderboard_report(s, key_features=KEYS)
    names = {u["name"] for u in beta_users["users"]}
    assert names and all(n.startswith("Beta") for n in names)
    assert all(u["name"].startswith("Alpha") for u in alpha_users["users"])
    with store.session(alpha.tenant_id) as s:  # beta's copy neither replaced nor dropped alpha's
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == PREPARED


def test_team_copies_are_kept_per_visibility_scope(two: Any, builds: Counter[str]) -> None:
    store, alpha, _ = two
    with store.session(alpha.tenant_id) as s:
        br.prepare_base_reports(s, MODEL)
    builds.clear()
    with store.session(alpha.tenant_id) as s:
        everyone = br.team_report(s, days=30, role="viewer", user_id=alpha.users["viewer"])
        csm = br.team_report(s, days=30, role="csm", user_id=alpha.users["csm2"])
        other = br.team_report(s, days=90, role="csm", user_id=alpha.users["csm"])
        manager = br.team_report(s, days=30, role="manager", user_id=alpha.users["manager"])
        assert builds["_team_facts"] == 0  # every scope's view was prepared
        assert csm == br._team_report(s, days=30, role="csm", user_id=alpha.users["csm2"])
        assert other == br._team_report(s, days=90, role="csm", user_id=alpha.users["csm"])
        assert manager == br._team_report(s, days=30, role="manager", user_id=alpha.users["manager"])
        assert everyone == br._team_report(s, days=30, role="admin", user_id=alpha.users["admin"])
        # a user made a CSM after the run (no prepared view): computed for them, then their copy
        builds.clear()
        viewer_as_csm = br.team_report(s, days=30, role="csm", user_id=alpha.users["viewer"])
        assert br.team_report(s, days=30, role="csm", user_id=alpha.users["viewer"]) == viewer_as_csm
        assert builds["_team_facts"] == 1
    assert [r["name"] for r in everyone["csms"]] == ["Alpha Csm", "Alpha Othercsm"]
    assert [r["name"] for r in csm["csms"]] == ["Alpha Othercsm"] and csm["teams"] == []
    assert [r["name"] for r in other["csms"]] == ["Alpha Csm"] and other["days"] == 90
    assert [r["name"] for r in manager["csms"]] == ["Alpha Csm"] and len(manager["teams"]) == 1
    assert viewer_as_csm["csms"] == [] and viewer_as_csm["trend"] == {}


def test_a_stale_or_damaged_copy_is_built_again(two: Any, builds: Counter[str]) -> None:
    store, alpha, _ = two
    with store.session(alpha.tenant_id) as s:
        br.prepare_base_reports(s, MODEL)
        s.execute(update(ReportCopy).where(ReportCopy.report == "adoption").values(fingerprint="old"))
        s.execute(update(ReportCopy).where(ReportCopy.report == "users").values(payload=b"not zlib"))
    builds.clear()
    with store.session(alpha.tenant_id) as s:
        adoption = br.adoption_report(s, key_features=KEYS, login_event=LOGIN)
        users = br.leaderboard_report(s, key_features=KEYS)
        assert (builds["_adoption_report"], builds["_leaderboard_report"]) == (1, 1)
        assert adoption == br._adoption_report(s, key_features=KEYS, login_event=LOGIN)
        assert users == br._leaderboard_report(s, key_features=KEYS)
        stored = s.scalars(select(ReportCopy.fingerprint).where(ReportCopy.report == "adoption")).all()
        assert stored == [br.data_fingerprint(s, "adoption")]
    builds.clear()
    with store.session(alpha.tenant_id) as s:
        assert br.leaderboard_report(s, key_features=KEYS) == users and sum(builds.values()) == 0


def test_a_cohort_or_another_day_is_stored_under_its_own_key(two: Any, builds: Counter[str]) -> None:
    store, alpha, _ = two
    cohort = br.Cohort(csm_user_id=alpha.users["csm"])
    earlier = WORLD_AS_OF - dt.timedelta(days=30)
    with store.session(alpha.tenant_id) as s:
        br.prepare_base_reports(s, MODEL)
        builds.clear()
        mine = br.health_report(s, by="segment", cohort=cohort, measures=MEASURES)
        early = br.health_report(s, by="segment", as_of=earlier, measures=MEASURES)
        assert builds["_health_report"] == 2
        assert br.health_report(s, by="segment", cohort=cohort, measures=MEASURES) == mine
        assert builds["_health_report"] == 2
        whole = br.health_report(s, by="segment", measures=MEASURES)
    assert (mine["overall"]["accounts"], whole["overall"]["accounts"]) == (3, 5)
    assert early["as_of"] == earlier.isoformat() and early != whole
    with store.session(alpha.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(Task)) == len(alpha.tasks)


def test_a_score_run_prepares_the_copies_and_a_partial_run_drops_them(store: Store) -> None:
    from sync.health import score_tenant
    from tests.sync.test_health_run import TODAY, _world

    with store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme CS")
    ids = _world(store, tenant.id)
    score_tenant(store, tenant.id, MODEL, TODAY)
    with store.session(tenant.id) as s:  # no users: Team for everyone only (and the cohort filter's choices)
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == 4 + 1 + 1 + 1 + 4
        users = br.leaderboard_report(s, key_features=KEYS)
        assert users == br._leaderboard_report(s, key_features=KEYS)
        assert {u["account_id"] for u in users["users"]} == {ids["steady"], ids["falling"]}
        # a login count raised in place (the same row): no fingerprint sees it, the next full run does
        s.execute(update(UsageDaily).where(UsageDaily.account_id == ids["steady"]).values(count=UsageDaily.count + 1))
    score_tenant(store, tenant.id, MODEL, TODAY)
    with store.session(tenant.id) as s:
        adoption = br.adoption_report(s, key_features=KEYS, login_event=LOGIN)
        assert adoption == br._adoption_report(s, key_features=KEYS, login_event=LOGIN)
        assert s.scalar(select(func.count()).select_from(ReportCopy)) == 11
    # rescored in place: the copies of the views that read scores dropped (the report sources patched:
    # tests/sync/test_report_patches.py); the Users copy and the cohort filter's (no score in them) kept, and
    # still what is computed
    score_tenant(store, tenant.id, MODEL, TODAY, only=[ids["falling"]])
    with store.session(tenant.id) as s:
        assert sorted(s.scalars(select(ReportCopy.report))) == ["filters", "users"]
        assert br.leaderboard_report(s, key_features=KEYS) == br._leaderboard_report(s, key_features=KEYS)
        assert br.cohort_choices(s) == br._cohort_choices(s)


def test_the_cohort_filter_choices_are_a_copy_until_an_account_or_person_changes(two: Any,
                                                                                 monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    """Every report page's cohort filter (segments and tiers in use, CSMs and managers) is read from a stored copy
    (the prepare stores it), built again when an account or a person changes, per workspace."""
    from store.models import Account, User

    store, alpha, beta = two
    built: list[int] = []
    choices = br._cohort_choices

    def counting(s: Any) -> dict[str, Any]:
        built.append(1)
        return choices(s)

    monkeypatch.setattr(br, "_cohort_choices", counting)
    with store.session(alpha.tenant_id) as s:
        br.prepare_base_reports(s, MODEL)
    assert len(built) == 1
    with store.session(alpha.tenant_id) as s:
        first = br.cohort_choices(s)
        assert first == choices(s) and len(built) == 1  # the copy, equal to the accounts' values
        assert first["csms"] == [[u.id, u.name, u.email] for u in s.scalars(
            select(User).where(User.role.in_(("csm", "manager"))).order_by(User.email))]
        account = s.get(Account, alpha.accounts["Alpha Good Steady"])
        assert account is not None
        account.segment, account.tier = "Strategic", "platinum"
    with store.session(alpha.tenant_id) as s:
        moved = br.cohort_choices(s)
        assert len(built) == 2 and "Strategic" in moved["segments"] and "platinum" in moved["tiers"]
        assert moved == choices(s) and len(built) == 2
        s.add(User(tenant_id=alpha.tenant_id, email="new.csm@alpha.example", name="New Csm", role="csm"))
    with store.session(alpha.tenant_id) as s:
        assert [c[1] for c in br.cohort_choices(s)["csms"]].count("New Csm") == 1 and len(built) == 3
        assert br.cohort_choices(s) == choices(s) and len(built) == 3
    with store.session(beta.tenant_id) as s:  # the other workspace's own values, never alpha's
        other = br.cohort_choices(s)
        assert "Strategic" not in other["segments"] and "New Csm" not in [c[1] for c in other["csms"]]
